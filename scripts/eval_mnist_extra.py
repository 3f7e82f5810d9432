"""The extra rows of docs/results.md's MNIST table: greedy search at about the policy's time,
and policies that do not ship (pretrained only, the first GPU run's models).

    python scripts/eval_mnist_extra.py [NAME=CHECKPOINT ...] > bench/results/eval_mnist_more.json

Digits are spread evenly over the 1,000 evaluation digits, seed = the digit's index (as
``spiral eval`` does); MSE against real libmypaint renders; one torch thread.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from synth.data import load_set
from synth.search import greedy
from synth.synthesize import mse, synthesize


def run(images, fn, n: int) -> dict:
    scores, seconds = [], []
    for k in np.linspace(0, len(images) - 1, n).round().astype(int):
        t0 = time.perf_counter()
        program = fn(images[k], int(k))
        seconds.append(time.perf_counter() - t0)
        scores.append(mse(program.render(), images[k]))
    return {"images": n, "mean_mse": float(np.mean(scores)), "seconds_per_image": float(np.mean(seconds))}


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    images, _ = load_set("mnist-eval")
    out = {"greedy 96/2 (equal time)": run(images, lambda im, k: greedy(im, seed=k, candidates=96, polish=2), 200)}
    print(out, file=sys.stderr)
    for pair in argv:
        name, _, path = pair.partition("=")
        out[name] = run(images, lambda im, k, path=path: synthesize(im, checkpoint=path, seed=k), 100)
        print(name, out[name], file=sys.stderr)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
