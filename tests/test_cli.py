"""The ``spiral`` command line: check, fmt and lower (render/replay/svg belong to the backends).

Commands run in-process through ``spiral_dsl.cli.main`` except one run through
``python -m spiral_dsl``, which also covers the exit status reaching the shell.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spiral_dsl import Program
from spiral_dsl.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.spl"))

# A comment-free program that is not in canonical form: extra spaces, blank lines, an
# upper-case colour, a trailing zero, and no newline at the end.
MESSY = ("paint   canvas=64\n\nmove to (1.50,2)\n"
         "stroke to (3,4) pressure 1 size 1 color #FFFFFF\n"
         "repeat k in 0..2 { move to (k,k) }")
CANONICAL = ("paint canvas=64\nmove to (1.5, 2)\n"
             "stroke to (3, 4) pressure 1 size 1 color #ffffff\n"
             "repeat k in 0..2 {\n  move to (k, k)\n}\n")
BROKEN = "paint\nmove to (1, 2\n"
TICKS_LOWERED = """paint canvas=64
move to (8, 20)
stroke via (8, 26) to (8, 32) pressure 0.6 size 1 color #1a1a1a
move to (18, 20)
stroke via (18, 27) to (18, 34) pressure 0.6 size 1 color #1a1a1a
move to (28, 20)
stroke via (28, 28) to (28, 36) pressure 0.6 size 1 color #1a1a1a
move to (38, 20)
stroke via (38, 29) to (38, 38) pressure 0.6 size 1 color #1a1a1a
move to (48, 20)
stroke via (48, 30) to (48, 40) pressure 0.6 size 1 color #1a1a1a
"""


def spiral(capsys, *argv):
    """Run the CLI in-process; return (exit status, stdout, stderr)."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- check
def test_examples_exist():
    assert len(EXAMPLES) >= 4


def test_check_accepts_every_example(capsys):
    rc, out, err = spiral(capsys, "check", *EXAMPLES)
    assert rc == 0, err
    assert err == ""
    expected = [f"{p}: ok ({Program.load(p).domain}, {len(Program.load(p))} core statements)"
                for p in EXAMPLES]
    assert out.splitlines() == expected


def test_check_reports_a_positioned_error_and_exits_1(tmp_path, capsys):
    bad = write(tmp_path / "bad.spl", BROKEN)
    rc, out, err = spiral(capsys, "check", bad, EXAMPLES[0])
    assert rc == 1
    # the good file is still checked and reported
    assert out.splitlines() == [f"{EXAMPLES[0]}: ok (paint, {len(Program.load(EXAMPLES[0]))} core statements)"]
    first, source, caret = err.splitlines()
    assert first == f"{bad}:2:14: unexpected end of file; expected ')'"
    assert source == "move to (1, 2"
    assert caret == " " * 13 + "^"


@pytest.mark.parametrize("text,position,words", [
    ("paint\nmove to (70, 1)\n", "2:1", "x=70 is outside the canvas [0, 64]"),
    ("paint\nmove to q\n", "2:9", "undefined name 'q'"),
    ("scene\nmove to (1, 1)\n", "2:1", "'move' is a paint statement"),
])
def test_check_reports_semantic_errors_with_file_line_col(tmp_path, capsys, text, position, words):
    bad = write(tmp_path / "semantic.spl", text)
    rc, out, err = spiral(capsys, "check", bad)
    assert rc == 1 and out == ""
    assert err.startswith(f"{bad}:{position}: ") and words in err


def test_check_missing_file_is_an_error_not_a_traceback(tmp_path, capsys):
    rc, out, err = spiral(capsys, "check", tmp_path / "nope.spl")
    assert rc == 1 and out == ""
    assert "cannot read" in err and "nope.spl" in err


def test_python_dash_m_runs_the_cli(tmp_path):
    bad = write(tmp_path / "bad.spl", BROKEN)
    proc = subprocess.run([sys.executable, "-m", "spiral_dsl", "check", *map(str, EXAMPLES), str(bad)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert [line.split(":")[0] for line in proc.stdout.splitlines()] == [str(p) for p in EXAMPLES]
    assert proc.stderr.startswith(f"{bad}:2:14: unexpected end of file")
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------- fmt
def test_fmt_check_lists_a_file_that_would_change_and_leaves_it(tmp_path, capsys):
    messy = write(tmp_path / "messy.spl", MESSY)
    clean = write(tmp_path / "clean.spl", CANONICAL)
    rc, out, err = spiral(capsys, "fmt", "--check", messy, clean)
    assert rc == 1
    assert out.splitlines() == [f"would reformat {messy}"]
    assert messy.read_text() == MESSY and clean.read_text() == CANONICAL


def test_fmt_check_passes_on_canonical_files(tmp_path, capsys):
    clean = write(tmp_path / "clean.spl", CANONICAL)
    assert spiral(capsys, "fmt", "--check", clean) == (0, "", "")


def test_fmt_rewrites_to_canonical_text_atomically(tmp_path, capsys):
    messy = write(tmp_path / "messy.spl", MESSY)
    before = Program.load(messy)
    rc, out, err = spiral(capsys, "fmt", messy)
    assert (rc, err) == (0, "")
    assert out.splitlines() == [f"reformatted {messy}"]
    assert messy.read_text() == CANONICAL
    assert Program.load(messy) == before                     # same program, new text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["messy.spl"]  # no temp file left
    assert spiral(capsys, "fmt", "--check", messy)[0] == 0  # formatting is idempotent


def test_fmt_refuses_to_drop_comments(tmp_path, capsys):
    text = "// my notes\npaint\nmove to (1,2)  // why this point\n"
    commented = write(tmp_path / "commented.spl", text)
    rc, out, err = spiral(capsys, "fmt", commented)
    assert rc == 1 and out == ""
    assert "--drop-comments" in err and str(commented) in err
    assert commented.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["commented.spl"]


def test_fmt_drop_comments_rewrites(tmp_path, capsys):
    commented = write(tmp_path / "commented.spl", "// my notes\npaint\nmove to (1,2)  // why\n")
    rc, out, err = spiral(capsys, "fmt", "--drop-comments", commented)
    assert (rc, err) == (0, "")
    assert commented.read_text() == "paint\nmove to (1, 2)\n"


def test_fmt_keeps_metadata_lines(tmp_path, capsys):
    path = write(tmp_path / "meta.spl", "// @score: 0.25\n// @checkpoint: mnist.pt\npaint\nmove to (1,2)\n")
    rc, out, err = spiral(capsys, "fmt", path)
    assert (rc, err) == (0, "")
    assert path.read_text() == "// @score: 0.25\n// @checkpoint: mnist.pt\npaint\nmove to (1, 2)\n"


def test_fmt_leaves_a_broken_file_alone(tmp_path, capsys):
    bad = write(tmp_path / "bad.spl", BROKEN)
    rc, out, err = spiral(capsys, "fmt", bad)
    assert rc == 1 and out == ""
    assert err.startswith(f"{bad}:2:14: ")
    assert bad.read_text() == BROKEN


# ---------------------------------------------------------------------------- lower
def test_lower_prints_the_core_program(capsys):
    ticks = REPO / "examples" / "ticks.spl"
    rc, out, err = spiral(capsys, "lower", ticks)
    assert (rc, err) == (0, "")
    assert out == TICKS_LOWERED
    lowered = Program.parse(out)
    assert lowered.is_core and lowered == Program.load(ticks).lower()


def test_lower_of_a_scene_places_every_object(capsys):
    rc, out, err = spiral(capsys, "lower", REPO / "examples" / "table.spl")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "scene grid=16 objects=5"
    assert lines[1:] == [f"place sphere at ({3 + 3 * i}, 4) size small color rgb(0, 0.667, 0.667)"
                         for i in range(4)] + ["place cube at (8, 11) size large color #ff0000"]


def test_lower_of_a_broken_file_exits_1(tmp_path, capsys):
    bad = write(tmp_path / "bad.spl", BROKEN)
    rc, out, err = spiral(capsys, "lower", bad)
    assert rc == 1 and out == ""
    assert err.startswith(f"{bad}:2:14: ")


# ---------------------------------------------------------------------------- known bugs
# Each documents a defect found while writing docs/language.md; the fix is in the reason.
def test_fmt_keeps_a_json_program_json(tmp_path, capsys):
    path = tmp_path / "ticks.json"
    program = Program.load(REPO / "examples" / "ticks.spl")
    program.save(path)
    assert spiral(capsys, "fmt", "--check", path)[0] == 0  # what save wrote is canonical
    spiral(capsys, "fmt", path)
    assert Program.load(path) == program


def test_fmt_does_not_silently_drop_a_note_after_the_header(tmp_path, capsys):
    text = "paint\nmove to (1,2)\n// @todo: keep this note\n"
    path = write(tmp_path / "note.spl", text)
    rc, _, err = spiral(capsys, "fmt", path)
    assert rc == 1 and "--drop-comments" in err
    assert path.read_text() == text


def test_fmt_keeps_the_file_mode(tmp_path, capsys):
    path = write(tmp_path / "private.spl", MESSY)
    os.chmod(path, 0o600)
    assert spiral(capsys, "fmt", path)[0] == 0
    assert path.stat().st_mode & 0o777 == 0o600


def test_check_rejects_recursion_through_a_nested_def(tmp_path, capsys):
    path = write(tmp_path / "rec.spl", "paint\ndef f() {\n  def g() {\n    f()\n  }\n  g()\n}\nf()\n")
    rc, _, err = spiral(capsys, "check", path)
    assert rc == 1 and f"{path}:4:5: " in err and "recursive" in err


def test_check_accepts_a_call_to_a_shadowing_nested_def(tmp_path, capsys):
    path = write(tmp_path / "shadow.spl",
                 "paint\ndef f() {\n  def f() {\n    move to (1, 1)\n  }\n  f()\n}\nf()\n")
    rc, out, err = spiral(capsys, "check", path)
    assert rc == 0, err
    assert out == f"{path}: ok (paint, 1 core statements)\n"


def test_misplaced_setting_is_named_in_the_message(tmp_path, capsys):
    path = write(tmp_path / "late.spl", "paint\nmove to (1, 1)\ngrid=4\n")
    rc, _, err = spiral(capsys, "check", path)
    assert rc == 1
    assert err.startswith(f"{path}:3:1: setting 'grid' must come right after paint")


def test_saved_metadata_always_reads_back(tmp_path, capsys):
    from spiral_dsl import SplError
    try:
        program = Program.parse("paint").with_metadata(note="two\nlines")
    except SplError:
        return  # refusing the value is a valid fix
    path = tmp_path / "meta.spl"
    program.save(path)
    rc, _, err = spiral(capsys, "check", path)
    assert rc == 0, err


# ---------------------------------------------------------------------------- outputs (issue 13, items 12 and 15)
TICKS = REPO / "examples" / "ticks.spl"


def test_render_creates_a_missing_output_folder(tmp_path, capsys):
    out = tmp_path / "nodir" / "deeper" / "x.png"
    rc, _, err = spiral(capsys, "render", TICKS, "-o", out)
    assert (rc, err) == (0, "")
    assert out.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("name,fmt", [("t.jpg", "JPEG"), ("t.png", "PNG"), ("t.webp", "WEBP"),
                                      ("t.bmp", "BMP")])
def test_render_writes_the_format_of_the_extension(tmp_path, capsys, name, fmt):
    from PIL import Image
    rc, _, err = spiral(capsys, "render", TICKS, "-o", tmp_path / name, "--size", 32)
    assert (rc, err) == (0, "")
    with Image.open(tmp_path / name) as im:
        assert im.format == fmt and im.size == (32, 32)


@pytest.mark.parametrize("name,fmt", [("r.gif", "GIF"), ("r.png", "PNG")])
def test_replay_writes_an_animation_in_the_format_of_the_extension(tmp_path, capsys, name, fmt):
    from PIL import Image
    rc, out, err = spiral(capsys, "replay", TICKS, "-o", tmp_path / name, "--frame-ms", 50)
    assert (rc, err) == (0, "")
    steps = len(Program.load(TICKS)) + 1           # the blank canvas, then each statement
    assert out == f"wrote {tmp_path / name} ({steps} steps of 50 ms)\n"
    with Image.open(tmp_path / name) as im:
        durations = []
        for k in range(im.n_frames):          # a move changes nothing: its frame is merged
            im.seek(k)
            durations.append(im.info["duration"])
        assert im.format == fmt and sum(durations) == steps * 50


@pytest.mark.parametrize("command,name,words", [
    ("render", "t.xyz", "'.xyz' is not an image extension"),
    ("render", "t.svg", "`spiral svg`"),
    ("replay", "r.jpg", "cannot write an animation"),
    ("svg", "s.png", "name the output .svg"),
])
def test_a_wrong_output_extension_is_a_clear_error(tmp_path, capsys, command, name, words):
    rc, out, err = spiral(capsys, command, TICKS, "-o", tmp_path / name)
    assert rc == 1 and out == "" and words in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_check_of_an_image_is_a_positioned_error(tmp_path, capsys):
    from PIL import Image
    png = tmp_path / "digit7.png"
    Image.new("RGB", (28, 28)).save(png)
    rc, out, err = spiral(capsys, "check", png, TICKS)
    assert rc == 1 and out.startswith(f"{TICKS}: ok")   # the good file is still checked
    assert err.startswith(f"{png}:1:1: not UTF-8 text")


def test_version(capsys):
    import spiral_dsl
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"spiral-dsl {spiral_dsl.__version__}"


def test_the_package_version_is_the_project_version():
    import tomllib

    import spiral_dsl
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert spiral_dsl.__version__ == project["version"]


# ---------------------------------------------------------------------------- command plugins
PLUGIN = '''
def add_commands(sub):
    p = sub.add_parser("hello", help="a plugin command")
    p.add_argument("name")
    p.set_defaults(func=lambda args: print(f"hello {args.name}") or 0)
'''


def _install_plugin(tmp_path, monkeypatch, module: str, source: str, target: str):
    """A real distribution on sys.path: its metadata declares ``target`` in the group."""
    (tmp_path / f"{module}.py").write_text(source)
    info = tmp_path / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[spiral_dsl.commands]\n{module} = {target}\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_installed_plugins_add_commands_through_the_entry_point_group(tmp_path, monkeypatch, capsys):
    _install_plugin(tmp_path, monkeypatch, "spiral_hello", PLUGIN, "spiral_hello:add_commands")
    assert spiral(capsys, "hello", "world") == (0, "hello world\n", "")


def test_a_broken_plugin_is_reported_and_the_language_commands_still_work(tmp_path, monkeypatch, capsys):
    _install_plugin(tmp_path, monkeypatch, "spiral_broken", "raise RuntimeError('boom')\n",
                    "spiral_broken:add_commands")
    rc, out, err = spiral(capsys, "check", TICKS)
    assert rc == 0 and out.startswith(f"{TICKS}: ok")
    assert "the 'spiral_broken' commands are unavailable" in err and "boom" in err


def test_a_plugin_that_is_not_installed_is_skipped_silently(monkeypatch, capsys):
    from spiral_dsl import cli
    monkeypatch.setitem(cli.KNOWN_PLUGINS, "absent", "no_such_package.cli:add_commands")
    assert spiral(capsys, "check", TICKS)[2] == ""


def test_synth_declares_its_commands_in_the_entry_point_group():
    """pyproject.toml and the source-checkout fallback name the same function, and it is the
    one that adds the learning commands."""
    import tomllib

    from spiral_dsl.cli import COMMAND_GROUP, KNOWN_PLUGINS, build_parser
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"][COMMAND_GROUP] == KNOWN_PLUGINS == {"synth": "synth.cli:add_commands"}
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert {"check", "render", "train", "synthesize", "sample", "eval"} <= set(commands)
