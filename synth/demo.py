"""``make demo``: the main job on embedded defaults.

    python -m synth.demo [--out DIR] [--examples DIR]

Writes into ``--out`` (default ``./out/demo``), never into the package; reads the language
examples from ``--examples`` (default ``./examples``, the repository's folder).

1. The language and interpreters: every example checked, formatted, lowered and rendered (PNG,
   GIF replay, SVG) into ``examples/`` of the output folder.
2. The synthesizer: programs for 16 evaluation digits (never trained on) and 8 printed letters
   of three scripts (``glyphs-dejavu`` and ``glyphs-dejavu-scripts``: a font family no
   training set uses) by ``synthesize``'s default method
   with the shipped checkpoint, beside the training-free greedy search, rendered by real
   libmypaint; writes ``digits/`` and ``characters/`` (.spl files, ``grid.png`` = target |
   default method | greedy per row, and one GIF replay each) and prints the mean MSE of each
   method and of the blank canvas.
3. Scene inversion: 4 held-out MuJoCo scenes inverted by the shipped scene checkpoint (or by
   the MCMC baseline when none ships); writes ``scenes/`` (.spl files and
   ``grid.png`` = target | rendering per row) and prints the objects recovered exactly.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from spiral_dsl.demo import run_examples
from spiral_dsl.errors import SplError
from spiral_dsl.io import save_animation, save_image

from .data import load_set
from .synthesize import DOMAIN_METHODS, BlankResultWarning, default_checkpoint, mse, synthesize

DIGITS = 16
CHARACTERS = 8


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m synth.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="out/demo", help="output folder")
    ap.add_argument("--examples", default="examples", help="folder of .spl examples")
    args = ap.parse_args(argv)
    try:
        return run(Path(args.out), Path(args.examples))
    except SplError as e:
        print(e, file=sys.stderr)
        return 1


def run(out: Path, examples: Path) -> int:
    failures = run_examples(out / "examples", examples)
    method = DOMAIN_METHODS["paint"][0]
    methods = [method, "greedy"] if default_checkpoint().is_file() else ["greedy"]
    if method not in methods:
        print(f"no shipped checkpoint at {default_checkpoint()}: showing greedy search only")
    images, labels = load_set("mnist-eval", size=64)
    paint_set(out / "digits", "digit", images, [f"label{v}" for v in labels], DIGITS, methods,
              f"{DIGITS} evaluation digits")
    images, labels = load_set("glyphs-dejavu+glyphs-dejavu-scripts", size=64)
    paint_set(out / "characters", "char", images, [f"U{v:04X}" for v in labels], CHARACTERS,
              methods, f"{CHARACTERS} printed letters, Latin, Greek and Cyrillic (DejaVu: a "
              "family no training set uses)")
    invert_scenes(out / "scenes")
    return 1 if failures else 0


def paint_set(folder: Path, stem: str, images, names: list[str], count: int, methods: list[str],
              title: str) -> None:
    """Programs for ``count`` of ``images`` (spread over the set) by each of ``methods``,
    rendered by libmypaint: ``.spl`` files, ``grid.png`` (target | one column per method) and
    the first one's GIF replay into ``folder``; prints each method's mean MSE."""
    folder.mkdir(parents=True, exist_ok=True)
    pick = np.linspace(0, len(images) - 1, count).astype(int)   # spread over the classes
    scores = {m: [] for m in methods}
    seconds = {m: [] for m in methods}
    rows = []
    for n, k in enumerate(pick):
        target = images[k]
        row = [target]
        for m in methods:
            t0 = time.perf_counter()
            program = synthesize(target, method=m, seed=int(k))
            seconds[m].append(time.perf_counter() - t0)
            image = program.render()
            scores[m].append(mse(image, target))
            program.save(folder / f"{stem}{n:02d}_{names[k]}_{m.replace('+', '_')}.spl")
            row.append(image)
            if n == 0:
                save_animation([program[:0].render()] + list(program.frames()),
                               folder / f"replay_{m.replace('+', '_')}.gif")
        rows.append(np.concatenate(row, 1))
    save_image(np.concatenate(rows, 0), folder / "grid.png")
    blank = float(np.mean([(1 - images[k]) ** 2 for k in pick]))
    print(f"\n{title}, rendered by libmypaint (classic/dry_brush, 64x64, 19 actions):")
    print(f"  blank canvas     mean MSE {blank:.4f}")
    for m in methods:
        print(f"  {m:<16} mean MSE {np.mean(scores[m]):.4f}   {np.mean(seconds[m]):.2f} s/image")
    print(f"outputs in {folder}/ (grid.png: target | {' | '.join(methods)})")


def invert_scenes(folder: Path, count: int = 4) -> None:
    from spiral_dsl.actions import ActionSpec

    from .scene_eval import held_out_scenes, object_recovery
    folder.mkdir(parents=True, exist_ok=True)
    spec = ActionSpec.for_domain("scene")
    truths, targets = held_out_scenes(spec, count=count)
    method = "policy+refine" if default_checkpoint("scene").is_file() else "mcmc"
    exact = objects = 0
    rows = []
    t0 = time.perf_counter()
    for n, (truth, target) in enumerate(zip(truths, targets)):
        with warnings.catch_warnings(record=True) as caught:   # shown as one line per scene
            warnings.simplefilter("always", BlankResultWarning)
            program = synthesize(target, domain="scene", method=method, seed=n)
        for w in caught:
            print(f"scene{n}: warning: {w.message}", file=sys.stderr)
        program.save(folder / f"scene{n}.spl")
        counts = object_recovery(truth, spec.encode_program(program))
        exact, objects = exact + counts["exact"], objects + counts["objects"]
        rows.append(np.concatenate([target, program.render()], 1))
    save_image(np.concatenate(rows, 0), folder / "grid.png")
    print(f"\n{count} held-out scenes inverted by {method} (real MuJoCo): {exact}/{objects} objects "
          f"recovered exactly ({exact / max(objects, 1):.0%}), "
          f"{(time.perf_counter() - t0) / count:.2f} s/scene; scenes/grid.png: target | rendering")


if __name__ == "__main__":
    sys.exit(main())
