"""``make demo`` for the language layer: check every example, write its canonical and lowered
forms, and render it with the default backend of its domain (PNG, GIF replay, SVG) into
``out/demo/examples/``. A backend that is not installed is reported, not hidden."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .cli import save_gif, save_png
from .errors import SplError
from .program import Program, write_atomic

ROOT = Path(__file__).resolve().parents[1]


def run_examples(out_dir: Path, examples_dir: Path = ROOT / "examples") -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in sorted(examples_dir.glob("*.spl")):
        program = Program.load(path)
        stem = out_dir / path.stem
        write_atomic(stem.with_suffix(".fmt.spl"), str(program))
        write_atomic(stem.with_suffix(".lowered.spl"), str(program.lower()))
        line = f"{path.name}: {program.domain}, {len(program.body)} statements -> {len(program)} core"
        try:
            t0 = time.perf_counter()
            save_png(program.render(size=128), stem.with_suffix(".png"))
            frames = [program[:0].render()] + list(program.frames())
            save_gif(frames, stem.with_suffix(".gif"))
            if program.domain == "paint":
                write_atomic(stem.with_suffix(".svg"), program.to_svg())
            line += f"; rendered png/gif{'/svg' if program.domain == 'paint' else ''} in {time.perf_counter() - t0:.2f}s"
        except (SplError, ImportError) as e:
            failures += 1
            line += f"; NOT rendered: {str(e).splitlines()[0]}"
        print(line)
    return failures


def main() -> int:
    out = ROOT / "out" / "demo" / "examples"
    failures = run_examples(out)
    print()
    print("examples/ticks.spl lowered to core statements:")
    print(Program.load(ROOT / "examples" / "ticks.spl").lower())
    print(f"outputs in {out.relative_to(ROOT)}/")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
