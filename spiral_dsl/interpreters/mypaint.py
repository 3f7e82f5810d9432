"""The paint domain on real libmypaint, with SPIRAL's stroke semantics (the reference backend).

Per canvas (one program render): a new brush (libmypaint seeds the brush RNG only at creation,
so a new brush per render makes renders deterministic) on a fixed tiled surface filled with the
header's ``background``, then ``move to (0, 0)``. Every statement runs inside its own
``begin_atomic``/``end_atomic`` pair.

* ``move to p``: ``reset``, ``new_stroke``, ``stroke_to(p, pressure 0)``; the pen is up.
* ``stroke via c to p pressure q size s color k``: set the base values ``radius_logarithmic =
  log(s in pixels)`` and ``color_h/s/v`` (HSV of k); sample the quadratic Bézier from the pen
  through ``c`` to ``p`` at t = i/50, i = 0..50. With the pen up, first ``stroke_to`` the start
  point with pressure q; then ``stroke_to`` points 1..50 with pressure ramping linearly from the
  start pressure (the previous stroke's end pressure when the pen is down, else q) to q. Every
  ``stroke_to`` has tilt 0 and ``dtime`` = 0.1 rounded to float32 (what SPIRAL's wrapper passes).
  The pen is then down at ``p``.

Coordinates are canvas units; a canvas rendered at ``size`` pixels scales coordinates and the
radius by ``size / canvas``.
"""
from __future__ import annotations

import colorsys
import functools
import math
import struct

import numpy as np

from ..ast import Move, Stroke
from ..errors import SplTypeError
from ..lower import check_core
from .libmypaint import TILE, brush_path, load

__all__ = ["MyPaintInterpreter", "MyPaintCanvas", "DTIME", "CURVE_POINTS", "bezier"]

DTIME = struct.unpack("f", struct.pack("f", 0.1))[0]  # 0.10000000149011612
CURVE_POINTS = 51
_T = tuple(i / (CURVE_POINTS - 1) for i in range(1, CURVE_POINTS))
FIX15 = 1 << 15
ffi = lib = None  # bound by the first canvas (loading libmypaint lazily)


def bezier(p0, p1, p2, t: float) -> tuple[float, float]:
    """The quadratic Bézier through control point ``p1`` at parameter ``t``."""
    u = 1.0 - t
    return (u * u * p0[0] + 2 * u * t * p1[0] + t * t * p2[0],
            u * u * p0[1] + 2 * u * t * p1[1] + t * t * p2[1])


@functools.lru_cache(maxsize=64)
def _brush_json(name: str) -> bytes:
    return brush_path(name).read_bytes()


@functools.lru_cache(maxsize=1)
def _setting_ids() -> tuple[int, int, int, int]:
    return tuple(lib.mypaint_brush_setting_from_cname(n) for n in
                 (b"radius_logarithmic", b"color_h", b"color_s", b"color_v"))


class MyPaintCanvas:
    """One libmypaint surface and brush; see the module docstring for the semantics."""

    def __init__(self, settings: dict, size: int | None = None):
        self.settings = settings
        self.canvas_units = settings["canvas"]
        self.pixels = int(size or self.canvas_units)
        if self.pixels < 1:
            raise SplTypeError(f"size={size!r} must be a positive number of pixels")
        self.scale = self.pixels / self.canvas_units
        brush_json = _brush_json(settings["brush"])   # an unknown brush fails before any C call
        global ffi, lib
        ffi, lib = load()
        self._ids = _setting_ids()
        self._surface = lib.mypaint_fixed_tiled_surface_new(self.pixels, self.pixels)
        self._iface = lib.mypaint_fixed_tiled_surface_interface(self._surface)
        self._tiled = ffi.cast("MyPaintTiledSurface *", self._surface)
        self._brush = lib.mypaint_brush_new()
        if not lib.mypaint_brush_from_string(self._brush, brush_json):
            self.close()
            raise SplTypeError(f"libmypaint could not parse brush {settings['brush']!r}")
        self._roi = ffi.new("MyPaintRectangle *")
        self._request = ffi.new("MyPaintTileRequest *")
        self._tiles = (self.pixels + TILE - 1) // TILE
        bg = settings["background"]
        self._bg = np.array([bg.r, bg.g, bg.b], dtype=np.float32)
        self._fill(self._bg)
        self.pen = (0.0, 0.0)
        self.pen_down = False
        self.pressure = 0.0
        self._move(0.0, 0.0)  # SPIRAL: the pen starts up at the origin

    # ------------------------------------------------------------------ protocol
    def execute(self, statement) -> None:
        if self._brush is None:
            raise SplTypeError("this canvas is closed")
        if not isinstance(statement, (Move, Stroke)):
            raise SplTypeError(f"the mypaint backend draws move and stroke, not "
                               f"{type(statement).__name__}")
        check_core(statement, self.settings)  # NaN, inf and out-of-range never reach C
        if isinstance(statement, Move):
            self._move(statement.to.x, statement.to.y)
        else:
            self._stroke(statement)

    def image(self) -> np.ndarray:
        """H×W×3 float32 in [0, 1]: the premultiplied surface over the background."""
        n, px = self._tiles, self.pixels
        raw = np.empty((n * TILE, n * TILE, 4), dtype=np.uint16)
        req = self._request
        for ty in range(n):
            for tx in range(n):
                lib.mypaint_tile_request_init(req, 0, tx, ty, 1)
                lib.mypaint_tiled_surface_tile_request_start(self._tiled, req)
                tile = np.frombuffer(ffi.buffer(req.buffer, TILE * TILE * 8), dtype=np.uint16)
                raw[ty * TILE:(ty + 1) * TILE, tx * TILE:(tx + 1) * TILE] = tile.reshape(TILE, TILE, 4)
                lib.mypaint_tiled_surface_tile_request_end(self._tiled, req)
        raw = raw[:px, :px]
        rgb = raw[..., :3].astype(np.float32) * np.float32(1.0 / FIX15)
        alpha = raw[..., 3:4]
        if (alpha != FIX15).any():  # an eraser brush uncovered something: composite on the background
            rgb += (1.0 - alpha.astype(np.float32) * np.float32(1.0 / FIX15)) * self._bg
        return np.clip(rgb, 0.0, 1.0, out=rgb)

    def close(self) -> None:
        if getattr(self, "_brush", None) is not None:
            lib.mypaint_brush_unref(self._brush)
            self._brush = None
        if getattr(self, "_iface", None) is not None:
            lib.mypaint_surface_unref(self._iface)
            self._iface = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ SPIRAL's semantics
    def _fill(self, rgb: np.ndarray) -> None:
        value = np.empty((TILE, TILE, 4), dtype=np.uint16)
        value[..., :3] = np.round(rgb * FIX15).astype(np.uint16)   # premultiplied, alpha 1
        value[..., 3] = FIX15
        raw = value.tobytes()
        req = self._request
        for ty in range(self._tiles):
            for tx in range(self._tiles):
                lib.mypaint_tile_request_init(req, 0, tx, ty, 0)
                lib.mypaint_tiled_surface_tile_request_start(self._tiled, req)
                ffi.memmove(req.buffer, raw, len(raw))
                lib.mypaint_tiled_surface_tile_request_end(self._tiled, req)

    def _move(self, x: float, y: float) -> None:
        s = self.scale
        lib.mypaint_surface_begin_atomic(self._iface)
        lib.mypaint_brush_reset(self._brush)
        lib.mypaint_brush_new_stroke(self._brush)
        lib.mypaint_brush_stroke_to(self._brush, self._iface, x * s, y * s, 0.0, 0.0, 0.0, DTIME)
        lib.mypaint_surface_end_atomic(self._iface, self._roi)
        self.pen, self.pen_down = (x, y), False

    def _stroke(self, st: Stroke) -> None:
        s, brush, iface = self.scale, self._brush, self._iface
        set_base, stroke_to = lib.mypaint_brush_set_base_value, lib.mypaint_brush_stroke_to
        radius_id, h_id, s_id, v_id = self._ids
        set_base(brush, radius_id, math.log(st.size * s))
        h, sat, v = colorsys.rgb_to_hsv(st.color.r, st.color.g, st.color.b)
        set_base(brush, h_id, h)
        set_base(brush, s_id, sat)
        set_base(brush, v_id, v)
        (x0, y0), p = self.pen, st.pressure
        start = self.pressure if self.pen_down else p
        lib.mypaint_surface_begin_atomic(iface)
        if not self.pen_down:
            stroke_to(brush, iface, x0 * s, y0 * s, p, 0.0, 0.0, DTIME)
        # the Bézier of bezier() inlined, in pixels: this loop is the interpreter's hot path
        ax, ay, bx, by, cx, cy = x0 * s, y0 * s, st.via.x * s, st.via.y * s, st.to.x * s, st.to.y * s
        dp = p - start
        for t in _T:
            u = 1.0 - t
            uu, ut, tt = u * u, 2.0 * u * t, t * t
            stroke_to(brush, iface, uu * ax + ut * bx + tt * cx, uu * ay + ut * by + tt * cy,
                      start + dp * t, 0.0, 0.0, DTIME)
        lib.mypaint_surface_end_atomic(iface, self._roi)
        self.pen, self.pen_down, self.pressure = (st.to.x, st.to.y), True, p


class MyPaintInterpreter:
    """The ``mypaint`` backend: real libmypaint brushes for the paint domain."""

    name = "mypaint"
    domains = ("paint",)

    def start(self, domain: str, settings: dict, size: int | None = None) -> MyPaintCanvas:
        if domain != "paint":
            raise SplTypeError(f"the mypaint backend draws the paint domain, not {domain!r}")
        return MyPaintCanvas(settings, size)
