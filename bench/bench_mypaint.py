"""libmypaint interpreter speed beside a bare loop of the same C calls, in one run.

20-statement episodes (one move, then strokes in runs) at 64², 128², 256² with
classic/dry_brush and classic/pen. The bare loop makes exactly the interpreter's C calls with
no DSL objects and no checks. Target: interpreter >= 0.9x the bare loop.
Writes bench/results/bench_mypaint.json.
"""
from __future__ import annotations

import argparse
import colorsys
import math
import random

import numpy as np

from common import rate, write_result

from spiral_dsl.actions import ActionSpec
from spiral_dsl.generate import random_program
from spiral_dsl.interpreters import get_interpreter
from spiral_dsl.interpreters.libmypaint import TILE, brush_path, load

ffi, lib = load()
from spiral_dsl.interpreters.mypaint import DTIME
from spiral_dsl.settings import DEFAULTS


def bare_episode(statements, brush_json: bytes, pixels: int, scale: float) -> None:
    """The same C calls as the interpreter, from plain tuples, and the image read back as floats."""
    surface = lib.mypaint_fixed_tiled_surface_new(pixels, pixels)
    iface = lib.mypaint_fixed_tiled_surface_interface(surface)
    tiled = ffi.cast("MyPaintTiledSurface *", surface)
    brush = lib.mypaint_brush_new()
    lib.mypaint_brush_from_string(brush, brush_json)
    req, roi = ffi.new("MyPaintTileRequest *"), ffi.new("MyPaintRectangle *")
    tiles = (pixels + TILE - 1) // TILE
    white = b"\x00\x80" * (TILE * TILE * 4)
    for ty in range(tiles):
        for tx in range(tiles):
            lib.mypaint_tile_request_init(req, 0, tx, ty, 0)
            lib.mypaint_tiled_surface_tile_request_start(tiled, req)
            ffi.memmove(req.buffer, white, len(white))
            lib.mypaint_tiled_surface_tile_request_end(tiled, req)
    ids = [lib.mypaint_brush_setting_from_cname(n) for n in (b"radius_logarithmic", b"color_h", b"color_s", b"color_v")]
    pen, down, last = (0.0, 0.0), False, 0.0
    for kind, *args in [("move", 0.0, 0.0)] + statements:
        lib.mypaint_surface_begin_atomic(iface)
        if kind == "move":
            lib.mypaint_brush_reset(brush)
            lib.mypaint_brush_new_stroke(brush)
            lib.mypaint_brush_stroke_to(brush, iface, args[0] * scale, args[1] * scale, 0.0, 0.0, 0.0, DTIME)
            pen, down = (args[0], args[1]), False
        else:
            (tx, ty, cx, cy, p, size, r, g, b) = args
            lib.mypaint_brush_set_base_value(brush, ids[0], math.log(size * scale))
            for i, v in zip(ids[1:], colorsys.rgb_to_hsv(r, g, b)):
                lib.mypaint_brush_set_base_value(brush, i, v)
            start = last if down else p
            stroke_to = lib.mypaint_brush_stroke_to
            if not down:
                stroke_to(brush, iface, pen[0] * scale, pen[1] * scale, p, 0.0, 0.0, DTIME)
            for i in range(1, 51):
                t = i / 50
                u = 1 - t
                x = u * u * pen[0] + 2 * u * t * cx + t * t * tx
                y = u * u * pen[1] + 2 * u * t * cy + t * t * ty
                stroke_to(brush, iface, x * scale, y * scale, start + (p - start) * t, 0.0, 0.0, DTIME)
            pen, down, last = (tx, ty), True, p
        lib.mypaint_surface_end_atomic(iface, roi)
    for ty in range(tiles):  # read the image back, as image() does
        for tx in range(tiles):
            lib.mypaint_tile_request_init(req, 0, tx, ty, 1)
            lib.mypaint_tiled_surface_tile_request_start(tiled, req)
            np.frombuffer(ffi.buffer(req.buffer, TILE * TILE * 8), np.uint16).astype(np.float32) / 32768
            lib.mypaint_tiled_surface_tile_request_end(tiled, req)
    lib.mypaint_brush_unref(brush)
    lib.mypaint_surface_unref(iface)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=2.0, help="timing per measurement")
    ap.add_argument("--episodes", type=int, default=16, help="distinct random episodes")
    args = ap.parse_args()
    interp = get_interpreter("mypaint")
    rows = []
    for brush in ("classic/dry_brush", "classic/pen"):
        settings = {**DEFAULTS["paint"], "brush": brush}
        spec = ActionSpec.for_domain("paint", settings)
        rng = random.Random(0)
        programs = [random_program(spec, 20, rng) for _ in range(args.episodes)]
        plain = [[("move", s.to.x, s.to.y) if type(s).__name__ == "Move" else
                  ("stroke", s.to.x, s.to.y, s.via.x, s.via.y, s.pressure, s.size, *s.color) for s in p]
                 for p in programs]
        brush_json = brush_path(brush).read_bytes()
        for size in (64, 128, 256):
            def run_interpreter():
                for p in programs:
                    c = interp.start("paint", settings, size)
                    for s in p:
                        c.execute(s)
                    c.image()
                    c.close()

            def run_bare():
                for p in plain:
                    bare_episode(p, brush_json, size, size / 64)

            ours = rate(run_interpreter, len(programs), args.seconds)
            bare = rate(run_bare, len(programs), args.seconds)
            rows.append({"brush": brush, "size": size, "interpreter_episodes_per_s": round(ours, 1),
                         "bare_loop_episodes_per_s": round(bare, 1), "ratio": round(ours / bare, 3)})
    write_result("bench_mypaint", {"benchmark": "mypaint", "statements_per_episode": 20, "rows": rows,
                                   "target_ratio": 0.9, "min_ratio": min(r["ratio"] for r in rows)})


if __name__ == "__main__":
    main()
