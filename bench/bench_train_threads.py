"""Seconds per training update: torch's default threads vs the training default now.

Each configuration runs in its own process (OpenMP reads its environment once, at torch's
import), alternating A B A B so that both see the same machine load:

* ``default``: what training did before issue 13 — torch's default threads (one per core) and
  OpenMP's default (active) wait policy, no OMP_* variables set;
* ``ours``: ``run.threads = 0`` (every core but one) with ``OMP_WAIT_POLICY=PASSIVE``, as
  ``spiral train`` sets it.

The run is the MNIST network (spatial location heads) on the raster, A2C with the −MSE reward,
batch 32 × 19 actions; the first update (warm-up) is not timed, and each process stops at the
config's ``max_seconds`` (170 s), so a slow configuration times fewer updates.

    python bench/bench_train_threads.py [--updates 4] [--rounds 2]
"""
from __future__ import annotations

import argparse

from common import threads_ab

CHILD = r"""
import json, sys, tempfile, time
import torch
from synth.config import load_config
from synth.train import train
mode, updates = sys.argv[1], int(sys.argv[2])
threads = torch.get_num_threads() if mode == "default" else 0
with tempfile.TemporaryDirectory() as out:
    config = load_config("configs/mnist.toml", [
        f"out_dir={out}", "targets=mnist-eval", "batch=32", f"updates={updates + 1}",
        "pretrain_updates=0", "pretrain_source=random", "value_warmup=0", "reward=mse",
        "device=cpu", "progress=false", "checkpoint_every=100000", f"threads={threads}"])
    stamps = []
    def clock(update, metrics, save):
        stamps.append(time.perf_counter())
        return False
    train(config, callback=clock)
seconds = [b - a for a, b in zip(stamps, stamps[1:])]
print(json.dumps({"threads": config.torch_threads(), "seconds": seconds}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=4, help="timed updates per process")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    threads_ab("bench_train_threads",
               "seconds per A2C update (MNIST network, raster, batch 32 x 19 actions)",
               CHILD, args.updates, args.rounds)


if __name__ == "__main__":
    main()
