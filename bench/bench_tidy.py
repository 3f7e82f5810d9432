"""What ``synth.tidy.tidy`` does to ``synthesize``'s programs: MSE, statements, ``rgb(...)``
colours and move runs before and after, and the seconds it adds per image (one thread).

Digits: every ``1000 / images``-th of ``mnist-eval`` (two per class for 20), each synthesized
with the default ``policy`` method and with ``greedy``; the target is the image
``synthesize`` scored against (``to_target(digit, 64, "auto")``), MSE on real libmypaint.

    python bench/bench_tidy.py [--images 20] [--tolerance 1e-4]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from common import write_result


def mse(a, b) -> float:
    return float(np.mean((np.asarray(a, np.float32) - np.asarray(b, np.float32)) ** 2))


def move_runs(program) -> int:
    from spiral_dsl import ast as A
    s = list(program)
    return sum(isinstance(a, A.Move) and isinstance(b, A.Move) for a, b in zip(s, s[1:]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--tolerance", type=float, default=None)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    from synth.data import load_set, to_target
    from synth.synthesize import synthesize
    from synth.tidy import TOLERANCE, tidy
    tolerance = TOLERANCE if args.tolerance is None else args.tolerance
    digits = load_set("mnist-eval")[0][:: 1000 // args.images][: args.images]
    result = {"what": "synth.tidy.tidy on synthesize() programs of mnist-eval digits",
              "images": len(digits), "tolerance": tolerance, "cores": os.cpu_count(),
              "load_average_1m": os.getloadavg()[0], "methods": {}}
    for method in ("policy", "greedy"):
        rows = []
        for digit in digits:
            program = synthesize(digit, method=method)
            target = to_target(digit, 64, "auto")
            t0 = time.perf_counter()
            tidied = tidy(program, target, tolerance=tolerance)
            seconds = time.perf_counter() - t0
            rows.append({"mse": [mse(program.render(), target), mse(tidied.render(), target)],
                         "statements": [len(program), len(tidied)],
                         "rgb_colours": [str(program).count("rgb("), str(tidied).count("rgb(")],
                         "move_runs": [move_runs(program), move_runs(tidied)],
                         "seconds": seconds})
        result["methods"][method] = summary(rows)
    write_result("bench_tidy", result)


def summary(rows: list[dict]) -> dict:
    def mean(key, i):
        return round(float(np.mean([r[key][i] for r in rows])), 6)

    def total(key, i):
        return int(sum(r[key][i] for r in rows))

    return {
        "mean_mse_before": mean("mse", 0), "mean_mse_after": mean("mse", 1),
        "max_mse_increase": round(max(r["mse"][1] - r["mse"][0] for r in rows), 7),
        "mean_statements_before": mean("statements", 0),
        "mean_statements_after": mean("statements", 1),
        "rgb_colours_before": total("rgb_colours", 0), "rgb_colours_after": total("rgb_colours", 1),
        "move_runs_before": total("move_runs", 0), "move_runs_after": total("move_runs", 1),
        "tidy_seconds_mean": round(float(np.mean([r["seconds"] for r in rows])), 4),
        "tidy_seconds_max": round(max(r["seconds"] for r in rows), 4),
    }


if __name__ == "__main__":
    main()
