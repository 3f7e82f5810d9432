"""The ``spiral`` command line.

``spiral check FILE...``            exit 1 with positioned errors
``spiral fmt [--check] FILE...``    rewrite in canonical form (or list files that would change)
``spiral render FILE -o out.png``   the final image (``--size N``, ``--backend NAME``)
``spiral replay FILE -o out.gif``   one frame per core statement
``spiral svg FILE -o out.svg``      strokes as vector paths
``spiral lower FILE``               print the core program
``spiral --version``

The output format follows the output's extension (``render -o x.jpg`` writes a JPEG, ``replay
-o x.png`` an animated PNG; see :mod:`spiral_dsl.io`), checked before any rendering.

Other packages add commands through the entry-point group ``spiral_dsl.commands``: each entry
names a callable ``add_commands(subparsers)`` that adds its subcommands to the argparse
subparsers object; a command sets ``func(args) -> int`` as its default and raises
:class:`~spiral_dsl.errors.SplError` for anything the user got wrong. That is how :mod:`synth`
adds ``train``, ``synthesize``, ``sample`` and ``eval`` (declared in pyproject.toml) without
this package importing it. Because entry points come from installed metadata, a source checkout
run without installing (or an install made before the group existed) would not see them; the
plugins in :data:`KNOWN_PLUGINS` are therefore also tried by module path, and skipped when
their module is not installed.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from . import __version__
from .brushes import use_brush_dirs
from .errors import SplError
from .io import animation_format, image_format, save_animation, save_image, write_atomic
from .program import Program
from .source import read_source

__all__ = ["main", "build_parser", "positive_int", "COMMAND_GROUP", "KNOWN_PLUGINS"]

#: The entry-point group through which packages add ``spiral`` subcommands.
COMMAND_GROUP = "spiral_dsl.commands"

#: Plugins also tried by ``"module:attribute"`` when the installed metadata does not list
#: them (see the module docstring); entry points of the same name take precedence.
KNOWN_PLUGINS: dict[str, str] = {"synth": "synth.cli:add_commands"}


def _load_all(files) -> tuple[list[tuple[Path, Program]], int]:
    loaded, failures = [], 0
    for name in files:
        try:
            loaded.append((Path(name), Program.load(name)))
        except SplError as e:
            print(e, file=sys.stderr)
            failures += 1
    return loaded, failures


def cmd_check(args) -> int:
    loaded, failures = _load_all(args.files)
    for path, program in loaded:
        print(f"{path}: ok ({program.domain}, {len(program)} core statements)")
    return 1 if failures else 0


def _comment_lines(text: str) -> int:
    """Comment lines the canonical text would drop (the leading ``// @key:`` block is kept)."""
    lines = text.splitlines()
    k = 0
    while k < len(lines) and lines[k].startswith("// @"):
        k += 1
    return sum(1 for line in lines[k:] if "//" in line)


def cmd_fmt(args) -> int:
    loaded, failures = _load_all(args.files)
    changed = 0
    for path, program in loaded:
        text = program.to_json_text() if path.suffix == ".json" else str(program)
        old = read_source(path)
        if old == text:
            continue
        changed += 1
        if args.check:
            print(f"would reformat {path}")
        elif _comment_lines(old) and not args.drop_comments:
            # canonical text has no comments: never delete a person's notes silently
            print(f"{path}: not reformatted, it has comments that the canonical form drops; "
                  "pass --drop-comments to rewrite it anyway", file=sys.stderr)
            failures += 1
        else:
            write_atomic(path, text)
            print(f"reformatted {path}")
    if args.check and changed:
        return 1
    return 1 if failures else 0


def cmd_lower(args) -> int:
    print(Program.load(args.file).lower(), end="")
    return 0


def cmd_render(args) -> int:
    image_format(args.output)  # a wrong extension fails before the rendering
    program = Program.load(args.file)
    save_image(program.render(size=args.size, backend=args.backend), args.output)
    print(f"wrote {args.output}")
    return 0


def cmd_replay(args) -> int:
    animation_format(args.output)
    program = Program.load(args.file)
    first = [program.lower()[:0].render(size=args.size, backend=args.backend)]
    save_animation(first + list(program.frames(size=args.size, backend=args.backend)),
                   args.output, args.frame_ms)
    # a step that changes nothing (a move) shows as a longer frame: Pillow merges equal frames
    print(f"wrote {args.output} ({len(program) + 1} steps of {args.frame_ms} ms)")
    return 0


def cmd_svg(args) -> int:
    if Path(args.output).suffix.lower() != ".svg":
        raise SplError(f"cannot write SVG to {args.output}: name the output .svg "
                       "(`spiral render` writes PNG, JPEG and other raster images)")
    program = Program.load(args.file)
    write_atomic(args.output, program.to_svg(size=args.size))
    print(f"wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spiral", description="spiral-dsl: programs for images")
    ap.add_argument("--version", action="version", version=f"spiral-dsl {__version__}")
    ap.add_argument("--brush-dir", action="append", default=[], metavar="DIR",
                    help="a folder of extra .myb brushes that programs may name (repeatable; "
                         "also SPIRAL_BRUSH_DIR); programs never name brush files by path")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="check programs; exit 1 with positioned errors")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("fmt", help="rewrite programs in canonical form")
    p.add_argument("--check", action="store_true", help="only list files that would change")
    p.add_argument("--drop-comments", action="store_true",
                   help="rewrite files even though their comments will be lost")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("lower", help="print the core program")
    p.add_argument("file")
    p.set_defaults(func=cmd_lower)

    for name, func, suffix, help_ in (
            ("render", cmd_render, "the format follows the extension: .png, .jpg, .webp...",
             "render the final image"),
            ("replay", cmd_replay, ".gif, .png (APNG) or .webp",
             "an animation, one frame per core statement"),
            ("svg", cmd_svg, ".svg", "export strokes as SVG paths")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("file")
        p.add_argument("-o", "--output", required=True, help=f"output file ({suffix})")
        p.add_argument("--size", type=positive_int, default=None,
                       help="output resolution in pixels (default: the header's canvas)")
        if name != "svg":
            p.add_argument("--backend", default=None, help="mypaint, raster or mujoco")
        if name == "replay":
            p.add_argument("--frame-ms", type=positive_int, default=120)
        p.set_defaults(func=func)

    for name, add_commands in _plugins().items():
        try:
            add_commands(sub)
        except Exception as e:  # a broken plugin must not take the language commands down
            print(f"spiral: the {name!r} commands are unavailable: {e}", file=sys.stderr)
    return ap


def _plugins() -> dict:
    """``name → add_commands`` of every installed plugin (see the module docstring). A plugin
    whose package is absent is skipped; one that fails to load is reported, not fatal."""
    from importlib.metadata import entry_points

    targets = dict(KNOWN_PLUGINS)
    targets.update({ep.name: ep.value for ep in entry_points(group=COMMAND_GROUP)})
    found = {}
    for name, target in targets.items():
        module_name, _, attr = target.partition(":")
        try:
            found[name] = getattr(importlib.import_module(module_name), attr)
        except ModuleNotFoundError as e:
            if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
                continue  # not installed: its commands simply do not exist
            print(f"spiral: the {name!r} commands are unavailable: {e}", file=sys.stderr)
        except Exception as e:
            print(f"spiral: the {name!r} commands are unavailable: {e!r}", file=sys.stderr)
    return found


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (the message names the value)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.brush_dir:
            use_brush_dirs(*args.brush_dir)
        return args.func(args) or 0
    except SplError as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
