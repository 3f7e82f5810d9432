"""The ``spiral`` command line.

``spiral check FILE...``            exit 1 with positioned errors
``spiral fmt [--check] FILE...``    rewrite in canonical form (or list files that would change)
``spiral render FILE -o out.png``   the final image (``--size N``, ``--backend NAME``)
``spiral replay FILE -o out.gif``   one frame per core statement
``spiral svg FILE -o out.svg``      strokes as vector paths
``spiral lower FILE``               print the core program

Learning commands (``train``, ``synthesize``, ``eval``) are added by :mod:`synth` when it is
installed; they import torch only when run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import SplError
from .program import Program, write_atomic

__all__ = ["main", "build_parser"]


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
        old = path.read_text(encoding="utf-8")
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


def _to_uint8(image):
    import numpy as np
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def save_png(image, path) -> None:
    """Write an H×W×3 float image in [0, 1] as PNG, atomically."""
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(_to_uint8(image)).save(buf, format="PNG")
    write_atomic(path, buf.getvalue())


def save_gif(frames, path, frame_ms: int = 120) -> None:
    """Write a list of H×W×3 float images as an animated GIF, atomically."""
    import io

    from PIL import Image
    images = [Image.fromarray(_to_uint8(f)) for f in frames]
    if not images:
        raise SplError("nothing to replay: the program has no core statements")
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=frame_ms, loop=0)
    write_atomic(path, buf.getvalue())


def cmd_render(args) -> int:
    program = Program.load(args.file)
    save_png(program.render(size=args.size, backend=args.backend), args.output)
    print(f"wrote {args.output}")
    return 0


def cmd_replay(args) -> int:
    program = Program.load(args.file)
    first = [program.lower()[:0].render(size=args.size, backend=args.backend)]
    save_gif(first + list(program.frames(size=args.size, backend=args.backend)), args.output,
             args.frame_ms)
    print(f"wrote {args.output} ({len(program) + 1} frames)")
    return 0


def cmd_svg(args) -> int:
    program = Program.load(args.file)
    write_atomic(args.output, program.to_svg(size=args.size))
    print(f"wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spiral", description="spiral-dsl: programs for images")
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

    for name, func, suffix, help_ in (("render", cmd_render, "png", "render the final image"),
                                      ("replay", cmd_replay, "gif", "one GIF frame per statement"),
                                      ("svg", cmd_svg, "svg", "export strokes as SVG paths")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("file")
        p.add_argument("-o", "--output", required=True, help=f"output .{suffix} file")
        p.add_argument("--size", type=_positive_int, default=None,
                       help="output resolution in pixels (default: the header's canvas)")
        if name != "svg":
            p.add_argument("--backend", default=None, help="mypaint, raster or mujoco")
        if name == "replay":
            p.add_argument("--frame-ms", type=_positive_int, default=120)
        p.set_defaults(func=func)

    try:  # the learning layer registers its commands when it is installed
        from synth.cli import add_commands
    except ImportError:
        pass
    else:
        add_commands(sub)
    return ap


def _positive_int(text: str) -> int:
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
        return args.func(args) or 0
    except SplError as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
