"""Exact recovery: how often the learned search finds the very program that drew a target.

    python bench/bench_exact.py [--checkpoint FILE] [--digits 8] [--random 20] [--seconds 20]

Targets are raster renders of short programs on the action grid, in three families:

* ``one stroke from the beam`` — the first move and stroke of the policy-guided beam's best
  program for ``--digits`` evaluation digits (digit-like strokes);
* ``one stroke at random`` — ``--random`` strokes with uniformly random points (away from the
  border), pressure 0.5–1, size 1, 2 or 4 and one of the four darkest greys;
* ``two strokes from the beam`` — the beam's first two strokes (and their moves) for the same
  digits.

For each target: the beam (4 × 16 proposals) searches programs of the target's length, each of
its 4 programs is fitted (40 steps, :mod:`synth.fit`) and then snapped and descended on the
grid (:func:`synth.search.descend`, ``--seconds`` at most each); the best result counts. A
target is recovered exactly when the raster MSE is below 1e-12. One torch thread. Writes
bench/results/bench_exact.json.
"""
from __future__ import annotations

import argparse
import random
import time

import numpy as np
from common import write_result

EXACT = 1e-12


def _recover(policy, target: np.ndarray, statements: int, seconds: float) -> float:
    from synth.beam import beam_search
    from synth.fit import fit
    from synth.search import descend
    from synth.tidy import merge_moves
    found, _ = beam_search(policy, target, expand=16, steps=statements, seed=1)
    fitted, errors = fit([merge_moves(p) for p in found], target, steps=40)
    return min(descend(fitted[j], target, seconds=seconds)[1] for j in np.argsort(errors))


def _targets(policy, digits: int, count: int, seed: int) -> dict:
    from spiral_dsl import Program
    from spiral_dsl.ast import Stroke
    from synth.beam import beam_search
    from synth.data import load_set
    from synth.evaluate import spread
    from synth.tidy import merge_moves
    spec = policy.spec
    images, _ = load_set("mnist-eval", size=64)
    families = {"one stroke from the beam": [], "one stroke at random": [], "two strokes from the beam": []}
    for k in spread(len(images), digits):
        programs, _ = beam_search(policy, images[k], expand=16, steps=19, seed=0)
        body = list(merge_moves(programs[0]))
        ends = [i + 1 for i, s in enumerate(body) if isinstance(s, Stroke)]
        if len(ends) >= 2:
            families["one stroke from the beam"].append(Program(programs[0].header, body[:ends[0]]))
            families["two strokes from the beam"].append(Program(programs[0].header, body[:ends[1]]))
    rng = random.Random(seed)
    for _ in range(count):
        a, c, b = ((2 * rng.randrange(4, 29), 2 * rng.randrange(4, 29)) for _ in range(3))
        stroke = Program.parse(f"paint\nmove to {a}\nstroke via {c} to {b} pressure "
                               f"{rng.choice([0.5, 0.6, 0.7, 0.8, 0.9, 1])} size {rng.choice([1, 2, 4])} "
                               "color #000000")
        actions = stroke.to_actions(spec, snap=True)
        grey = rng.randrange(4)
        actions[1].update(red=grey, green=grey, blue=grey)
        families["one stroke at random"].append(Program.from_actions(spec, actions))
    return families


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=None, help="default: the shipped paint checkpoint")
    ap.add_argument("--digits", type=int, default=8)
    ap.add_argument("--random", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    from synth.synthesize import load_policy
    policy, _ = load_policy(args.checkpoint)
    rows = {}
    for family, programs in _targets(policy, args.digits, args.random, args.seed).items():
        errors, seconds = [], []
        for program in programs:
            target = program.render(backend="raster")
            t0 = time.perf_counter()
            errors.append(_recover(policy, target, len(program), args.seconds))
            seconds.append(time.perf_counter() - t0)
        missed = [e for e in errors if e >= EXACT]
        rows[family] = {"targets": len(errors), "exact": len(errors) - len(missed),
                        "median_error_of_the_missed": float(np.median(missed)) if missed else None,
                        "max_error": float(max(errors)), "seconds_median": round(float(np.median(seconds)), 2)}
        print(family, rows[family], flush=True)
    write_result("bench_exact", {
        "benchmark": "exact recovery of short programs' raster renders",
        "checkpoint": args.checkpoint or "shipped", "threads": 1, "exact_below": EXACT,
        "search": "beam (4 x 16, the target's length) -> fit 40 steps -> descend, best of 4",
        "rows": rows})


if __name__ == "__main__":
    main()
