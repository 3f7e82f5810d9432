"""Parse + check + lower speed of a 10,000-statement core program, beside json.loads of its
JSON form (a C-accelerated reference) in the same run. Writes bench/results/bench_parse.json.

Target: >= 50,000 core statements/s for parse+check."""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spiral_dsl import Program  # noqa: E402
from spiral_dsl.ast import Color, Move, Point, Stroke  # noqa: E402


def make_program(n: int, seed: int = 0) -> Program:
    rng = random.Random(seed)

    def pt():
        return Point(rng.randrange(33) * 2, rng.randrange(33) * 2)

    body = []
    for i in range(n):
        if i % 5 == 0:
            body.append(Move(pt()))
        else:
            body.append(Stroke(pt(), pt(), rng.randrange(1, 11) / 10, rng.choice([1, 2, 4, 8]),
                               Color(rng.randrange(20) / 19, rng.randrange(20) / 19, rng.randrange(20) / 19)))
    return Program.from_statements(body, "paint", canvas=64)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--statements", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_parse.json"))
    args = ap.parse_args()

    program = make_program(args.statements)
    text, json_text = str(program), program.to_json_text()
    n = len(program)
    t_parse = best_of(lambda: Program.parse(text), args.repeats)
    t_json = best_of(lambda: json.loads(json_text), args.repeats)
    t_from_json = best_of(lambda: Program.from_json(json_text), args.repeats)
    result = {
        "benchmark": "parse", "core_statements": n, "text_bytes": len(text),
        "parse_check_lower_statements_per_s": n / t_parse,
        "json_loads_statements_per_s": n / t_json,
        "from_json_check_lower_statements_per_s": n / t_from_json,
        "parse_over_json_loads": t_json / t_parse,
        "target_statements_per_s": 50_000,
        "meets_target": n / t_parse >= 50_000,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from spiral_dsl.io import write_atomic
    write_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
