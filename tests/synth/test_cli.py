"""The learning commands of ``spiral``: synthesize never overwrites an input and goes on past a
bad file; eval's options are checked; long commands show progress only on a terminal."""
import io
import json
import sys

import pytest

from spiral_dsl import Program
from spiral_dsl.cli import main
from spiral_dsl.io import save_image
from synth.cli import OUTPUT_SUFFIXES, output_bases
from synth.data import load_set

FAST = ["--samples", "2"]   # the shipped policy, two samples: about a second per image


def spiral(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def digits():
    images, _ = load_set("mnist-eval", size=64)
    return images[[0, 500]]


# ---------------------------------------------------------------------------- output names
def test_output_bases_keep_stems_when_they_are_unique(tmp_path):
    assert output_bases(["a/x.png", "b/y.jpg"], tmp_path) == [tmp_path / "x", tmp_path / "y"]


def test_inputs_sharing_a_stem_get_distinct_outputs(tmp_path):
    bases = output_bases(["d7.bmp", "d7.webp", "d7.gif", "photo.png", "sub/photo.png"], tmp_path)
    assert bases[:3] == [tmp_path / "d7.bmp", tmp_path / "d7.webp", tmp_path / "d7.gif"]
    assert bases[3:] == [tmp_path / "photo.png", tmp_path / "photo.png-2"]
    outputs = [f"{b}{s}" for b in bases for s in OUTPUT_SUFFIXES]
    assert len(set(outputs)) == len(outputs)


def test_an_output_never_lands_on_an_input(tmp_path):
    inputs = [tmp_path / "a.png", tmp_path / "a.render.png", tmp_path / "b.spl"]
    bases = output_bases(inputs, tmp_path)
    outputs = {f"{b}{s}" for b in bases for s in OUTPUT_SUFFIXES}
    assert not outputs & {str(p) for p in inputs}
    assert bases[0] == tmp_path / "a-2"    # a.render.png is an input


# ---------------------------------------------------------------------------- synthesize
def test_synthesize_into_the_inputs_folder_keeps_the_input(tmp_path, capsys, digits):
    digit = tmp_path / "digit7.png"
    save_image(digits[0], digit)
    before = digit.read_bytes()
    rc, out, err = spiral(capsys, "synthesize", digit, "-o", tmp_path, *FAST)
    assert rc == 0, err
    assert digit.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "digit7.png", "digit7.render.png", "digit7.replay.gif", "digit7.spl"]
    assert Program.load(tmp_path / "digit7.spl").metadata["method"] == "beam+fit"
    assert out.startswith(f"{digit}: mse ")


def test_synthesize_inputs_with_one_stem_do_not_overwrite_each_other(tmp_path, capsys, digits):
    names = [tmp_path / "d7.bmp", tmp_path / "d7.webp", tmp_path / "d7.png"]
    for name, image in zip(names, [digits[0], digits[1], digits[0]]):
        save_image(image, name)
    out_dir = tmp_path / "out"
    rc, out, err = spiral(capsys, "synthesize", *names, "-o", out_dir, *FAST)
    assert rc == 0, err
    programs = sorted(p.name for p in out_dir.glob("*.spl"))
    assert programs == ["d7.bmp.spl", "d7.png.spl", "d7.webp.spl"]


def test_synthesize_goes_on_past_a_corrupt_image(tmp_path, capsys, digits):
    a, bad, b = tmp_path / "a.png", tmp_path / "corrupt.png", tmp_path / "b.png"
    save_image(digits[0], a)
    save_image(digits[1], b)
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    rc, out, err = spiral(capsys, "synthesize", a, bad, b, "-o", tmp_path / "out", *FAST)
    assert rc == 1
    assert (tmp_path / "out" / "a.spl").is_file() and (tmp_path / "out" / "b.spl").is_file()
    assert not (tmp_path / "out" / "corrupt.spl").exists()
    assert f"{bad}: " in err and "1 of 3 images failed" in err and "Traceback" not in err


def test_synthesize_checks_the_method_for_the_domain_first(tmp_path, capsys):
    rc, out, err = spiral(capsys, "synthesize", tmp_path / "x.png", "-o", tmp_path,
                          "--domain", "scene", "--method", "greedy")
    assert rc == 1 and "--method=greedy is not one of ['policy+refine', 'policy', 'mcmc']" in err
    rc, out, err = spiral(capsys, "synthesize", tmp_path / "x.png", "-o", tmp_path,
                          "--checkpoint", tmp_path / "missing.pt")
    assert rc == 1 and err.count("missing.pt") == 1


# ---------------------------------------------------------------------------- eval
@pytest.mark.parametrize("argv,words", [
    (["--limit", "-3"], "--limit=-3 must be >= 1"),
    (["--limit", "0"], "--limit=0 must be >= 1"),
    (["--samples", "0"], "--samples=0 must be >= 1"),
    (["--domain", "scene", "--method", "greedy"], "--method does not apply to --domain scene"),
    (["--domain", "scene", "--polish", "1"], "--polish does not apply to --domain scene"),
    (["--mcmc", "1,10"], "--mcmc applies to --domain scene only"),
    (["--budget", "0"], "--budget=0 must be >= 1"),
    (["--method", "greedy", "--budget", "5"], "not of method='greedy'"),
    (["--candidates", "8"], "set greedy search, not --method beam+fit"),
    (["--method", "greedy", "--candidates", "0"], "--candidates=0 must be >= 1"),
    (["--refine-seconds", "0"], "--refine-seconds=0.0 must be > 0"),
])
def test_eval_rejects_bad_options_naming_them(capsys, argv, words):
    rc, out, err = spiral(capsys, "eval", *argv)
    assert rc == 1 and words in err and "Traceback" not in err


def test_eval_greedy_with_search_options_writes_json(tmp_path, capsys):
    path = tmp_path / "figures" / "greedy.json"
    rc, out, err = spiral(capsys, "eval", "--method", "greedy", "--candidates", "4", "--polish",
                          "0", "--limit", "2", "--json", path)
    assert rc == 0, err
    result = json.loads(path.read_text())
    assert json.loads(out) == result
    assert (result["images"], result["candidates"], result["polish"]) == (2, 4, 0)
    assert 0 < result["mean_mse"] < result["blank_canvas_mse"]


# ---------------------------------------------------------------------------- progress
class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("quiet", [False, True])
def test_eval_shows_a_progress_bar_with_an_eta_on_a_terminal_only(monkeypatch, capsys, quiet):
    argv = ["eval", "--method", "greedy", "--candidates", "4", "--polish", "0", "--limit", "2"]
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(argv + (["--quiet"] if quiet else [])) == 0
    shown = terminal.getvalue()
    if quiet:
        assert shown == ""
    else:
        assert "eval greedy" in shown and "2/2" in shown and "<" in shown  # elapsed<remaining
    monkeypatch.undo()
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().err == ""     # not a terminal: no bar


@pytest.mark.slow
def test_train_shows_a_progress_bar_over_updates_on_a_terminal(tmp_path, monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    argv = ["train", "--config", "configs/tiny.toml", "--pretrain", "0",
            "--set", f"out_dir={tmp_path}", "--set", "updates=2"]
    assert main(argv) == 0
    shown = terminal.getvalue()
    assert "train" in shown and "2/2" in shown and "update" in shown and "mse=" in shown
    assert "[1/2]" not in shown                # the bar replaces the counter lines


@pytest.mark.slow
def test_the_teacher_build_shows_a_progress_bar_on_a_terminal(tmp_path, monkeypatch, digits):
    from spiral_dsl.actions import ActionSpec
    from synth.teacher import build_teacher
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    build_teacher(digits, ActionSpec.for_domain("paint"), tmp_path / "t.npz", steps=2,
                  candidates=2, polish=0, workers=1, chunk=1)
    shown = terminal.getvalue()
    assert "teacher" in shown and "2/2" in shown and "mse=" in shown
    assert "[teacher" not in shown             # the bar replaces the per-chunk lines
