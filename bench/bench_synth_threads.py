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
import json
import os
import subprocess
import sys

from common import ROOT, write_result

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


def run(config: str, images: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if config == "ours":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    out = subprocess.run([sys.executable, "-c", CHILD, config, str(images)], env=env,
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    runs = {"default": [], "ours": []}
    threads = {}
    for _ in range(args.rounds):
        for config in runs:
            r = run(config, args.images)
            runs[config] += r["seconds"]
            threads[config] = r["threads"]
            print(config, [round(s, 2) for s in r["seconds"]], file=sys.stderr)
    mean = {c: sum(s) / len(s) for c, s in runs.items()}
    write_result("bench_synth_threads", {
        "what": "seconds per synthesize() call (policy, 16 samples, MNIST eval digits)",
        "cores": os.cpu_count(), "load_average_1m": os.getloadavg()[0],
        "threads": threads, "seconds": {c: [round(x, 3) for x in s] for c, s in runs.items()},
        "mean_seconds": {c: round(m, 3) for c, m in mean.items()},
        "speedup_ours_vs_default": round(mean["default"] / mean["ours"], 2),
    })


if __name__ == "__main__":
    main()
