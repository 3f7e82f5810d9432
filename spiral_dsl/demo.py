"""The language layer's part of ``make demo``: check every example, write its canonical and
lowered forms, and render it with the default backend of its domain (PNG, GIF replay, SVG).

    python -m spiral_dsl.demo [--examples DIR] [--out DIR]

Reads ``.spl`` files from ``--examples`` (default ``./examples``, the repository's folder; the
examples are not part of the installed package) and writes into ``--out`` (default
``./out/demo/examples``), never into the package. A backend that is not installed is
reported, not hidden.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import SplError
from .io import save_animation, save_image, write_atomic
from .program import Program

__all__ = ["run_examples", "main"]


def run_examples(out_dir, examples_dir="examples") -> int:
    """Check, format, lower and render every ``*.spl`` of ``examples_dir`` into ``out_dir``;
    return the number of examples that could not be rendered."""
    out_dir, examples_dir = Path(out_dir), Path(examples_dir)
    examples = sorted(examples_dir.glob("*.spl"))
    if not examples:
        raise SplError(f"no .spl examples in {examples_dir} (pass the repository's examples/ "
                       "folder)")
    failures = 0
    for path in examples:
        program = Program.load(path)
        stem = out_dir / path.stem
        write_atomic(stem.with_suffix(".fmt.spl"), str(program))
        write_atomic(stem.with_suffix(".lowered.spl"), str(program.lower()))
        line = f"{path.name}: {program.domain}, {len(program.body)} statements -> {len(program)} core"
        try:
            t0 = time.perf_counter()
            save_image(program.render(size=128), stem.with_suffix(".png"))
            frames = [program[:0].render()] + list(program.frames())
            save_animation(frames, stem.with_suffix(".gif"))
            if program.domain == "paint":
                write_atomic(stem.with_suffix(".svg"), program.to_svg())
            line += f"; rendered png/gif{'/svg' if program.domain == 'paint' else ''} in {time.perf_counter() - t0:.2f}s"
        except (SplError, ImportError) as e:
            failures += 1
            line += f"; NOT rendered: {str(e).splitlines()[0]}"
        print(line)
    return failures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spiral_dsl.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--examples", default="examples", help="folder of .spl examples")
    ap.add_argument("--out", default="out/demo/examples", help="output folder")
    args = ap.parse_args(argv)
    try:
        failures = run_examples(args.out, args.examples)
        ticks = Path(args.examples) / "ticks.spl"
        if ticks.is_file():
            print(f"\n{ticks} lowered to core statements:")
            print(Program.load(ticks).lower())
    except SplError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"outputs in {args.out}/")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
