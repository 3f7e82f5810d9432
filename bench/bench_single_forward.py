"""Embedded A2C with and without the learner's second forward pass, same config, one run.

The MNIST network (channels 32, hidden 256, spatial heads, 19 actions per episode, reward
-MSE) on the raster interpreter, one torch thread. ``single_forward``: the rollout runs the
learner's policy and keeps its graph, the update back-propagates once
(:class:`synth.train.LocalWorkers`); ``re_evaluate``: the worker's copy samples and the learner
teacher-forces the stored observations again. The two paths alternate ``rounds`` times; each
round times ``updates`` updates after one untimed warm-up update. Both give the same metrics
for the same seed. Writes bench/results/bench_single_forward.json.

    OMP_NUM_THREADS=1 python bench/bench_single_forward.py [--batch 64] [--updates 3] [--rounds 2]
        [--arch spiral|lean] [--out NAME]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from common import write_result

from synth.config import load_config
from synth.train import LocalWorkers, load_targets, train


def measure(config, single_forward: bool) -> float:
    """Env frames/s over the timed updates."""
    timings = []

    def clock(update, metrics, save):
        timings.append(time.perf_counter())
        return False

    workers = LocalWorkers(config, config.spec(), load_targets(config), single_forward=single_forward)
    try:
        train(config, workers=workers, callback=clock)
    finally:
        workers.close()
    frames = (len(timings) - 1) * config.rl.batch * (config.run.episode_length - 1)
    return frames / (timings[-1] - timings[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--updates", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--arch", choices=("spiral", "lean"), default="spiral")
    ap.add_argument("--out", default="bench_single_forward", help="result name under bench/results/")
    opts = ap.parse_args()
    base = ["episode_length=20", f"batch={opts.batch}", f"updates={opts.updates + 1}", "progress=false",
            "checkpoint_every=100000", "targets=mnist-eval", "channels=32", "hidden=256", "spatial=true",
            f"threads={opts.threads}", "device=cpu", "reward=mse", f"arch={opts.arch}"]
    rates = {"single_forward": [], "re_evaluate": []}
    with tempfile.TemporaryDirectory() as d:
        for r in range(opts.rounds):
            for name in rates:
                config = load_config(None, base + [f"out_dir={d}/{name}{r}"])
                rates[name].append(round(measure(config, name == "single_forward"), 1))
    med = {k: statistics.median(v) for k, v in rates.items()}
    write_result(opts.out, {
        "benchmark": "single_forward", "config": base, "frames_per_s": rates,
        "median_frames_per_s": med, "speedup": round(med["single_forward"] / med["re_evaluate"], 3),
        "note": "2-core machine shared with other jobs while measured; the paths alternate so "
                "load affects both alike"})


if __name__ == "__main__":
    main()
