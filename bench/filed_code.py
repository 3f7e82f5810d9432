"""The code as it was when an issue was filed, measured beside today's in the same run.

``bench_train.py --filed-tree DIR`` runs this file with ``DIR`` (a ``git worktree`` of the
commit the issue was filed against, e.g. ``git worktree add /tmp/filed 05143fa`` for issue 17)
first on ``sys.path``, so ``synth`` and ``spiral_dsl`` are that commit's. It uses only APIs
that commit already had. Two modes:

    python bench/filed_code.py DIR train THREADS BATCH UPDATES OUT_DIR
        train() on configs/mnist.toml as that commit had it (A2C, -MSE, no pretraining), one
        warm-up update then UPDATES timed: prints one JSON line {"frames_per_s": ...}.
    python bench/filed_code.py DIR synthesize IMAGES
        a server: reads a line "k" from stdin, synthesizes evaluation digit ``spread(1000,
        IMAGES)[k]`` with seed k (16 samples, one thread, as that commit did) and prints
        {"seconds": ..., "mse": ...}; the caller alternates it image by image with its own rows.
"""
from __future__ import annotations

import json
import os
import sys
import time


def _train(threads: int, batch: int, updates: int, out_dir: str) -> None:
    from synth.config import load_config
    from synth.train import LocalWorkers, load_targets, train
    config = load_config("configs/mnist.toml", [
        f"batch={batch}", f"updates={updates + 1}", "device=cpu", "seed=0", "progress=false",
        "checkpoint_every=100000", "pretrain_updates=0", "value_warmup=0", f"threads={threads}",
        f"out_dir={out_dir}"])
    timings = []

    def clock(update, metrics, save):
        timings.append(time.perf_counter())
        return False

    workers = LocalWorkers(config, config.spec(), load_targets(config))
    try:
        train(config, workers=workers, callback=clock)
    finally:
        workers.close()
    span = timings[-1] - timings[0]           # the first update is the warm-up
    frames = (len(timings) - 1) * config.rl.batch * (config.run.episode_length - 1)
    print(json.dumps({"frames_per_s": round(frames / span, 1)}), flush=True)


def _synthesize_server(images: int) -> None:
    import torch
    torch.set_num_threads(1)
    from synth.data import load_set
    from synth.evaluate import spread
    from synth.synthesize import synthesize
    digits = load_set("mnist-eval", size=64)[0]
    digits = digits[spread(len(digits), images)]
    synthesize(digits[0], invert=False)                          # warm-up: load the checkpoint
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        k = int(line)
        t = time.perf_counter()
        program = synthesize(digits[k], invert=False, seed=k)
        seconds = time.perf_counter() - t
        image = program.render()
        mse = float(((image - digits[k]) ** 2).mean())
        print(json.dumps({"seconds": seconds, "mse": mse}), flush=True)


if __name__ == "__main__":
    tree, mode, *rest = sys.argv[1:]
    sys.path.insert(0, os.path.abspath(tree))
    os.chdir(tree)
    if mode == "train":
        _train(int(rest[0]), int(rest[1]), int(rest[2]), rest[3])
    elif mode == "synthesize":
        _synthesize_server(int(rest[0]))
    else:
        sys.exit(f"unknown mode {mode!r}: train or synthesize")
