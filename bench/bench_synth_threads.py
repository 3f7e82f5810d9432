"""Seconds per ``synthesize`` call: torch's default threads vs one thread with passive OpenMP.

Each configuration runs in its own process (OpenMP reads its environment once, at torch's
import), alternating A B A B so that both see the same machine load:

* ``default``: what ``synthesize`` did before issue 13 — torch's default threads (one per core)
  and OpenMP's default (active) wait policy, no OMP_* variables set;
* ``ours``: ``synthesize``'s default now (``threads=1``) with ``OMP_WAIT_POLICY=PASSIVE`` as the
  CLI sets it.

    python bench/bench_synth_threads.py [--images 4] [--rounds 2]
"""
from __future__ import annotations

import argparse

from common import threads_ab

CHILD = r"""
import json, sys, time
import numpy as np, torch
from synth.data import load_mnist
from synth.synthesize import synthesize
threads = None if sys.argv[1] == "default" else 1
images = load_mnist("eval", 64)[0][:: 1000 // int(sys.argv[2])][: int(sys.argv[2])]
kw = {"threads": torch.get_num_threads()} if threads is None else {}
synthesize(images[0], invert=False, **kw)  # warm-up: policy load, first batch
seconds = []
for k, image in enumerate(images):
    t0 = time.perf_counter()
    synthesize(image, invert=False, seed=k, **kw)
    seconds.append(time.perf_counter() - t0)
print(json.dumps({"threads": kw.get("threads", 1), "seconds": seconds}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    threads_ab("bench_synth_threads",
               "seconds per synthesize() call (policy, 16 samples, MNIST eval digits)",
               CHILD, args.images, args.rounds)


if __name__ == "__main__":
    main()
