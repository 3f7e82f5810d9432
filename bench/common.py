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
