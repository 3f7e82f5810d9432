"""Helpers shared by the benchmarks: timing and atomic JSON results."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"


def rate(fn, items_per_call: int, min_seconds: float = 1.0, warmup: int = 1) -> float:
    """Items per second of ``fn`` over at least ``min_seconds`` (after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return calls * items_per_call / elapsed


def write_result(name: str, result: dict) -> None:
    from spiral_dsl.io import write_atomic
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_atomic(RESULTS / f"{name}.json", json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def threads_ab(name: str, what: str, child: str, child_arg: int, rounds: int) -> dict:
    """Torch's default threads vs ours, each in its own process, alternating A B A B.

    ``child`` is Python source run as ``python -c child MODE child_arg`` (MODE ``default`` or
    ``ours``); its last stdout line is JSON ``{"threads": n, "seconds": [...]}``. ``default``
    runs with no OMP_*/MKL_* variables (OpenMP reads them once, at torch's import); ``ours``
    with ``OMP_WAIT_POLICY=PASSIVE``. Writes ``bench/results/<name>.json`` and returns it."""
    import os
    import subprocess

    def run(mode: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_"))}
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        if mode == "ours":
            env["OMP_WAIT_POLICY"] = "PASSIVE"
        out = subprocess.run([sys.executable, "-c", child, mode, str(child_arg)], env=env,
                             capture_output=True, text=True, check=True, cwd=ROOT)
        return json.loads(out.stdout.strip().splitlines()[-1])

    runs: dict[str, list] = {"default": [], "ours": []}
    threads = {}
    for _ in range(rounds):
        for mode in runs:
            r = run(mode)
            runs[mode] += r["seconds"]
            threads[mode] = r["threads"]
            print(mode, [round(s, 2) for s in r["seconds"]], file=sys.stderr)
    mean = {m: sum(s) / len(s) for m, s in runs.items()}
    result = {
        "what": what, "cores": os.cpu_count(), "load_average_1m": os.getloadavg()[0],
        "threads": threads, "seconds": {m: [round(x, 3) for x in s] for m, s in runs.items()},
        "mean_seconds": {m: round(v, 3) for m, v in mean.items()},
        "speedup_ours_vs_default": round(mean["default"] / mean["ours"], 2),
    }
    write_result(name, result)
    return result
