"""Training throughput: embedded vs Ray with 1 and 2 rollout workers, same config, one run.

Environment frames/s and learner updates/s over a fixed number of updates (after one warm-up
update that is not timed), with ``ray1_over_embedded`` = frames/s of Ray with 1 worker ÷
embedded. Target: >= 1/1.2. Writes bench/results/bench_train.json.
"""
from __future__ import annotations

import argparse
import tempfile
import time

from common import write_result

from synth.config import load_config
from synth.train import LocalWorkers, load_targets, train


def measure(config, workers_factory) -> dict:
    timings = []

    def clock(update, metrics, save):
        timings.append(time.perf_counter())
        return False

    workers = workers_factory()
    try:
        train(config, workers=workers, callback=clock)
    finally:
        workers.close()
    span = timings[-1] - timings[0]           # the first update is the warm-up
    updates = len(timings) - 1
    run = config.run
    frames = updates * run.workers * config.rl.batch * (run.episode_length - 1)
    return {"workers": run.workers, "frames_per_s": round(frames / span, 1),
            "updates_per_s": round(updates / span, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--updates", type=int, default=6)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    base = ["episode_length=20", f"batch={args.batch}", f"updates={args.updates + 1}", "progress=false",
            "checkpoint_every=1000", "targets=mnist-eval", "channels=32", "hidden=256", "threads=2"]
    results = {}
    with tempfile.TemporaryDirectory() as d:
        embedded = load_config(None, base + [f"out_dir={d}/embedded"])
        results["embedded"] = measure(embedded, lambda: LocalWorkers(embedded, embedded.spec(), load_targets(embedded)))
        from synth.distributed import RayWorkers, init_ray
        ray = init_ray(num_cpus=2)
        for n in (1, 2):
            a = load_config(None, base + [f"out_dir={d}/ray{n}", f"workers={n}"])
            results[f"ray_{n}"] = measure(a, lambda a=a: RayWorkers(a, a.spec(), load_targets(a)))
        ray.shutdown()
    ratio = results["ray_1"]["frames_per_s"] / results["embedded"]["frames_per_s"]
    write_result("bench_train", {"benchmark": "train", "config": base, "cores": 2, **results,
                                 "ray1_over_embedded": round(ratio, 3), "target_ray1_over_embedded": round(1 / 1.2, 3),
                                 "note": "learners run in the driver (2 threads); a Ray rollout worker gets threads // workers torch threads, with OMP_WAIT_POLICY=PASSIVE"})


if __name__ == "__main__":
    main()
