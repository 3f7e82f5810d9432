"""libmypaint interpreter speed beside a bare loop of the same C calls, in one run; memory
over 10,000 renders.

Episodes are 20 statements (``random_program``'s pen style: a move, then strokes in runs) of a
64-unit canvas rendered at 64², 128² and 256² with classic/dry_brush and classic/pen. The
interpreter path is ``start`` → 20 × ``execute`` (checks included) → ``image()`` → ``close``.
The bare loop makes exactly the same C calls from precomputed pixel-space tuples: no DSL
objects, no checks, no canvas object; it reads the image back the same way (the two are
first checked to draw identical pixels). They are timed in interleaved rounds, in CPU time of
this process, and the median of the per-round ratios is reported (the machine is shared).
Target: interpreter / bare >= 0.9. Then 10,000 episodes rendered in one process: max RSS and
tracemalloc's traced Python memory before and after.

Writes bench/results/bench_mypaint.json. ``--quick`` for a smoke run.
"""
from __future__ import annotations

import argparse
import colorsys
import gc
import math
import platform
import random
import resource
import time
import tracemalloc
from statistics import median

import numpy as np
from common import write_result

from spiral_dsl.actions import ActionSpec
from spiral_dsl.ast import Move
from spiral_dsl.generate import random_program
from spiral_dsl.interpreters import get_interpreter
from spiral_dsl.interpreters.libmypaint import FIX15, TILE, brush_json, load
from spiral_dsl.interpreters.mypaint import DTIME
from spiral_dsl.settings import DEFAULTS

BRUSHES = ("classic/dry_brush", "classic/pen")
SIZES = (64, 128, 256)
STEPS = tuple(i / 50 for i in range(1, 51))


def plain(program, scale: float) -> list[tuple]:
    """The program as pixel-space tuples: ("m", x, y) and ("s", x1, y1, x2, y2, q, log r, h,
    s, v); the conversions a caller of the bare C API would do once."""
    out = []
    for s in program:
        if isinstance(s, Move):
            out.append(("m", s.to.x * scale, s.to.y * scale))
        else:
            out.append(("s", s.via.x * scale, s.via.y * scale, s.to.x * scale, s.to.y * scale,
                        s.pressure, math.log(s.size * scale), *colorsys.rgb_to_hsv(*s.color)))
    return out


def bare_episode(b, text: bytes, pixels: int, statements) -> np.ndarray:
    """One episode with raw cffi calls, the interpreter's C calls in the same order."""
    ffi, lib = b.ffi, b.lib
    stroke_to, set_base = lib.mypaint_brush_stroke_to, lib.mypaint_brush_set_base_value
    begin, end = lib.mypaint_surface_begin_atomic, lib.mypaint_surface_end_atomic
    surface = lib.mypaint_fixed_tiled_surface_new(pixels, pixels)
    iface = lib.mypaint_fixed_tiled_surface_interface(surface)
    tiled = ffi.cast("MyPaintTiledSurface *", surface)
    req, roi = ffi.new("MyPaintTileRequest *"), ffi.new("MyPaintRectangle *")
    n = (pixels + TILE - 1) // TILE
    lib.mypaint_tile_request_init(req, 0, 0, 0, 1)  # the fixed surface's tiles are contiguous
    lib.mypaint_tiled_surface_tile_request_start(tiled, req)
    tiles = np.frombuffer(ffi.buffer(req.buffer, n * n * TILE * TILE * 8), np.uint16)
    lib.mypaint_tiled_surface_tile_request_end(tiled, req)
    tiles = tiles.reshape(n, n, TILE, TILE, 4)
    tiles[...] = FIX15  # white, opaque
    brush = lib.mypaint_brush_new()
    lib.mypaint_brush_from_string(brush, text)
    ids = (b.radius_logarithmic, b.color_h, b.color_s, b.color_v)
    x0 = y0 = q0 = 0.0
    down = False
    for st in [("m", 0.0, 0.0)] + statements:
        begin(iface)
        if st[0] == "m":
            _, x0, y0 = st
            lib.mypaint_brush_reset(brush)
            lib.mypaint_brush_new_stroke(brush)
            stroke_to(brush, iface, x0, y0, 0.0, 0.0, 0.0, DTIME)
            down = False
        else:
            _, x1, y1, x2, y2, q, log_r, h, s, v = st
            for i, value in zip(ids, (log_r, h, s, v)):
                set_base(brush, i, value)
            qs = q0 if down else q
            if not down:
                stroke_to(brush, iface, x0, y0, q, 0.0, 0.0, DTIME)
            for t in STEPS:
                u = 1.0 - t
                a, bb, c = u * u, 2 * u * t, t * t
                stroke_to(brush, iface, a * x0 + bb * x1 + c * x2, a * y0 + bb * y1 + c * y2,
                          qs * u + q * t, 0.0, 0.0, DTIME)
            x0, y0, q0, down = x2, y2, q, True
        end(iface, roi)
    px = tiles.transpose(0, 2, 1, 3, 4).reshape(n * TILE, n * TILE, 4)[:pixels, :pixels]
    image = px[..., :3].astype(np.float32) * np.float32(1.0 / FIX15)
    lib.mypaint_brush_unref(brush)
    lib.mypaint_surface_unref(iface)
    return image


def interpreter_episode(interp, settings, pixels, program) -> np.ndarray:
    canvas = interp.start("paint", settings, pixels)
    for s in program:
        canvas.execute(s)
    image = canvas.image()
    canvas.close()
    return image


def paired(run_a, run_b, rounds: int) -> tuple[list[float], list[float]]:
    """CPU seconds of this process for ``rounds`` calls of each, interleaved (a b, b a, a b,
    ...). CPU time, not wall time: on a shared machine time spent descheduled is not the
    code's; interleaving and the median of per-round ratios absorb what remains."""
    times: dict = {run_a: [], run_b: []}
    run_a(), run_b()  # warm up
    for r in range(rounds):
        for fn in ((run_a, run_b) if r % 2 == 0 else (run_b, run_a)):
            t0 = time.process_time()
            fn()
            times[fn].append(time.process_time() - t0)
    return times[run_a], times[run_b]


def speed(episodes: int, rounds: int) -> list[dict]:
    binding, interp = load(), get_interpreter("mypaint")
    rows = []
    for brush in BRUSHES:
        settings = {**DEFAULTS["paint"], "brush": brush}
        spec = ActionSpec.for_domain("paint", settings)
        rng = random.Random(0)
        programs = [list(random_program(spec, 20, rng)) for _ in range(episodes)]
        text = brush_json(brush)
        for pixels in SIZES:
            tuples = [plain(p, pixels / 64) for p in programs]
            # the two paths draw the same pixels (checked, so the comparison is fair)
            for p, t in zip(programs[:3], tuples[:3]):
                assert np.array_equal(interpreter_episode(interp, settings, pixels, p),
                                      bare_episode(binding, text, pixels, t))

            def run_interpreter(programs=programs, settings=settings, pixels=pixels):
                for p in programs:
                    interpreter_episode(interp, settings, pixels, p)

            def run_bare(tuples=tuples, text=text, pixels=pixels):
                for t in tuples:
                    bare_episode(binding, text, pixels, t)

            ours, bare = paired(run_interpreter, run_bare, rounds)
            ratios = sorted(tb / ta for ta, tb in zip(ours, bare))
            row = {"brush": brush, "pixels": pixels,
                   "interpreter_episodes_per_cpu_s": round(len(programs) / median(ours), 1),
                   "bare_loop_episodes_per_cpu_s": round(len(programs) / median(bare), 1),
                   "ratio": round(median(ratios), 3),
                   "ratio_quartiles": [round(ratios[len(ratios) // 4], 3),
                                       round(ratios[3 * len(ratios) // 4], 3)]}
            print(row, flush=True)
            rows.append(row)
    return rows


def memory(renders: int, traced_renders: int) -> dict:
    """Max RSS (KiB) around ``renders`` 64² episodes, then tracemalloc's traced Python memory
    around ``traced_renders`` more (tracemalloc slows Python several-fold, so fewer)."""
    interp = get_interpreter("mypaint")
    settings = {**DEFAULTS["paint"], "brush": "classic/pen"}
    spec = ActionSpec.for_domain("paint", settings)
    programs = [list(random_program(spec, 20, random.Random(i))) for i in range(100)]
    for p in programs:  # warm up: caches, allocator pools
        interpreter_episode(interp, settings, 64, p)
    gc.collect()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    for i in range(renders):
        interpreter_episode(interp, settings, 64, programs[i % len(programs)])
    seconds = time.perf_counter() - t0
    gc.collect()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    traced0 = tracemalloc.get_traced_memory()[0]
    for i in range(traced_renders):
        interpreter_episode(interp, settings, 64, programs[i % len(programs)])
    gc.collect()
    traced1 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"renders": renders, "seconds": round(seconds, 1), "max_rss_kib_before": rss0,
            "max_rss_kib_after": rss1, "max_rss_growth_kib": rss1 - rss0,
            "traced_renders": traced_renders, "traced_python_bytes_growth": traced1 - traced0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=8, help="distinct random episodes")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per row")
    ap.add_argument("--renders", type=int, default=10_000, help="renders in the memory check")
    ap.add_argument("--traced-renders", type=int, default=1_000,
                    help="renders under tracemalloc")
    ap.add_argument("--quick", action="store_true", help="a smoke run (not for the record)")
    args = ap.parse_args()
    if args.quick:
        args.episodes, args.rounds, args.renders, args.traced_renders = 2, 2, 200, 20
    t0 = time.perf_counter()
    rows = speed(args.episodes, args.rounds)
    mem = memory(args.renders, args.traced_renders)
    result = {"benchmark": "mypaint", "statements_per_episode": 20, "canvas_units": 64,
              "library": load().path, "machine": f"{platform.machine()}, "
              f"{platform.python_implementation()} {platform.python_version()}",
              "timing": "CPU seconds of the process, interleaved rounds, median ratio",
              "rows": rows, "target_ratio": 0.9, "min_ratio": min(r["ratio"] for r in rows),
              "memory": mem, "wall_seconds": round(time.perf_counter() - t0, 1),
              "quick": args.quick}
    if args.quick:
        print(result)
    else:
        write_result("bench_mypaint", result)


if __name__ == "__main__":
    main()
