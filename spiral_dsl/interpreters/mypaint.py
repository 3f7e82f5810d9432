"""The paint domain on real libmypaint, with SPIRAL's stroke semantics (the reference backend).

Per canvas (one program render): a NEW brush loaded from the ``.myb`` JSON (libmypaint seeds
the brush RNG only when a brush is created, so this makes renders deterministic) on a fixed
tiled surface filled with the header's ``background``, then ``move to (0, 0)``. Every
statement runs inside its own ``begin_atomic``/``end_atomic`` pair (nothing is drawn before
``end_atomic``).

* ``move to p``: ``reset``, ``new_stroke``, ``stroke_to(p, pressure 0)``; the pen is up.
* ``stroke via c to p pressure q size s color k``: set the base values ``radius_logarithmic =
  log(s in pixels)`` and ``color_h/s/v`` (``colorsys`` HSV of k); sample the quadratic Bézier
  from the pen through ``c`` to ``p`` at t = i/50, i = 0..50. With the pen up, first
  ``stroke_to`` the start point with pressure q; then ``stroke_to`` points 1..50 with pressure
  ``q0 * (1 - t) + q * t``, where q0 is the previous stroke's pressure when the pen is down,
  else q. Every ``stroke_to`` has tilt 0 and ``dtime`` = 0.1 rounded to float32, what SPIRAL's
  C++ wrapper passes (``dtime`` changes the strokes). The pen is then down at ``p``.

Coordinates are canvas units; a canvas rendered at ``size`` pixels scales coordinates and the
radius by ``size / canvas``. Every value is checked before any C call: NaN, inf or an
out-of-range value raises :class:`SplRangeError` and leaves the canvas as it was.

Cost is bounded before it is spent: ``size`` by ``LIMITS.render_side`` before the surface is
allocated; the brush (named, never a path: :mod:`spiral_dsl.brushes`) by its file size and dab
settings before libmypaint parses it; and the strokes of one canvas by ``LIMITS.paint_area``
(square pixels at this size, :func:`spiral_dsl.limits.painted_area`), checked before each
stroke's C calls, so a canvas refuses the stroke that would pass it (:class:`SplLimitError`).
"""
from __future__ import annotations

import colorsys
import functools
import math
import numbers
import struct

import numpy as np

from ..ast import Color, Move, Point, Stroke
from ..errors import SplError, SplLimitError, SplRangeError, SplStateError, SplTypeError
from ..limits import LIMITS, painted_area
from ..lower import check_color, check_core
from ..settings import DEFAULTS, INT_RANGES
from .libmypaint import FIX15, TILE, brush_json, load

__all__ = ["MyPaintInterpreter", "MyPaintCanvas", "check_statement", "check_settings", "DTIME",
           "CURVE_POINTS", "MAX_PIXELS", "bezier"]

DTIME = struct.unpack("f", struct.pack("f", 0.1))[0]  # 0.10000000149011612
CURVE_POINTS = 51
MAX_PIXELS = LIMITS.render_side  # a side; 8192² fix15 RGBA is 512 MiB

#: Per sample i = 1..50: the Bézier weights (1-t)², 2(1-t)t, t² and the pressure weights
#: 1-t, t, with t = i/50. Evaluated in SPIRAL's operation order so the floats match.
_STEPS = tuple(((1 - t) * (1 - t), 2 * (1 - t) * t, t * t, 1.0 - t, t)
               for t in (i / (CURVE_POINTS - 1) for i in range(1, CURVE_POINTS)))


@functools.lru_cache(maxsize=64)
def _background_pixel(r: float, g: float, b: float) -> np.ndarray:
    """One opaque fix15 RGBA pixel of the background (premultiplied by alpha 1)."""
    value = np.array([round(r * FIX15), round(g * FIX15), round(b * FIX15), FIX15], np.uint16)
    value.flags.writeable = False
    return value


def bezier(p0, p1, p2, t: float) -> tuple[float, float]:
    """The quadratic Bézier from ``p0`` through control point ``p1`` to ``p2`` at ``t``."""
    a, b, c = (1 - t) * (1 - t), 2 * (1 - t) * t, t * t
    return (a * p0[0] + b * p1[0] + c * p2[0], a * p0[1] + b * p1[1] + c * p2[1])


def _real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _within(v, hi) -> bool:  # a plain int/float in [0, hi]; NaN fails every comparison
    return (type(v) is float or type(v) is int) and 0 <= v <= hi


def _plainly_valid(st, canvas) -> bool:
    """The fast path of :func:`check_statement`: plain floats, all in range."""
    if type(st) is not Move and type(st) is not Stroke:
        return False
    to = st.to
    if type(to) is not Point or not (_within(to.x, canvas) and _within(to.y, canvas)):
        return False
    if type(st) is Move:
        return True
    via, c, size = st.via, st.color, st.size
    return (type(via) is Point and _within(via.x, canvas)
            and _within(via.y, canvas) and _within(st.pressure, 1) and _within(size, canvas)
            and size > 0 and type(c) is Color and _within(c.r, 1) and _within(c.g, 1)
            and _within(c.b, 1))


def check_statement(statement, settings: dict) -> None:
    """Reject anything but a well-typed, in-range ``Move`` or ``Stroke`` (before any C call).

    Wrong types raise :class:`SplTypeError`; NaN, inf and out-of-range values raise
    :class:`SplRangeError` naming the value and the valid range (:func:`~spiral_dsl.lower.
    check_core`'s messages, as for parsed programs).
    """
    if _plainly_valid(statement, settings["canvas"]):
        return
    if not isinstance(statement, (Move, Stroke)):
        raise SplTypeError(f"the paint domain draws move and stroke, not "
                           f"{type(statement).__name__}")
    points = [("to", statement.to)] + ([("via", statement.via)] if isinstance(statement, Stroke)
                                       else [])
    for name, p in points:
        if not (isinstance(p, Point) and _real(p.x) and _real(p.y)):
            raise SplTypeError(f"{name}={p!r} must be a Point of two numbers")
    if isinstance(statement, Stroke):
        for name in ("pressure", "size"):
            if not _real(getattr(statement, name)):
                raise SplTypeError(f"{name}={getattr(statement, name)!r} must be a number")
        c = statement.color
        if not (isinstance(c, Color) and all(_real(v) for v in c)):
            raise SplTypeError(f"color={c!r} must be a Color of three numbers")
    check_core(statement, settings)


def check_settings(settings: dict, size) -> tuple[int, int]:
    """``(canvas, pixels)`` of a paint header and an output ``size``, after checking the
    settings this backend reads (``canvas``, ``background``) and ``size``."""
    canvas, bg = settings.get("canvas"), settings.get("background")
    pixels = canvas if size is None else size
    lo, hi = INT_RANGES["canvas"]
    if (type(canvas) is int and type(pixels) is int and lo <= canvas <= hi
            and 1 <= pixels <= MAX_PIXELS and type(bg) is Color and _within(bg.r, 1)
            and _within(bg.g, 1) and _within(bg.b, 1)):
        return canvas, pixels  # the common case, without isinstance checks against ABCs
    if not (isinstance(canvas, numbers.Integral) and not isinstance(canvas, bool)
            and lo <= canvas <= hi):
        raise SplRangeError(f"canvas={canvas!r} must be an integer in [{lo}, {hi}]")
    if not (isinstance(bg, Color) and all(_real(v) for v in bg)):
        raise SplTypeError(f"background={bg!r} must be a Color")
    check_color(bg, None)
    if not (isinstance(pixels, numbers.Integral) and not isinstance(pixels, bool)
            and 1 <= pixels <= MAX_PIXELS):
        raise SplRangeError(f"size={size!r} is out of range: an integer number of pixels in "
                            f"[1, {MAX_PIXELS}] (render_side={MAX_PIXELS} is a limit, see "
                            "docs/language.md#limits)")
    return int(canvas), int(pixels)


class MyPaintCanvas:
    """One libmypaint surface and brush; see the module docstring for the semantics.

    Native memory is freed by :meth:`close` or, failing that, when the canvas is collected.
    """

    def __init__(self, settings: dict, size: int | None = None):
        settings = {**DEFAULTS["paint"], **settings}
        canvas, pixels = check_settings(settings, size)
        brush_text = brush_json(settings["brush"])  # unknown brush: SplError before any C call
        self.settings = settings
        self.canvas_units, self.pixels = canvas, pixels
        self.scale = pixels / canvas
        bg = settings["background"]
        self._bg = np.array([bg.r, bg.g, bg.b], dtype=np.float32)
        binding = load()
        ffi, lib = binding.ffi, binding.lib
        self._ffi, self._lib, self._ids = ffi, lib, (binding.radius_logarithmic, binding.color_h,
                                                     binding.color_s, binding.color_v)
        self._brush = self._iface = self._view = None
        surface = lib.mypaint_fixed_tiled_surface_new(pixels, pixels)
        if surface == ffi.NULL:
            raise SplError(f"libmypaint could not allocate a {pixels}×{pixels} surface")
        self._iface = ffi.gc(lib.mypaint_fixed_tiled_surface_interface(surface),
                             lib.mypaint_surface_unref)
        self._tiled = ffi.cast("MyPaintTiledSurface *", surface)
        self._brush = ffi.gc(lib.mypaint_brush_new(), lib.mypaint_brush_unref)
        if not lib.mypaint_brush_from_string(self._brush, brush_text):
            self.close()
            raise SplRangeError(f"libmypaint could not parse brush {settings['brush']!r}")
        self._roi = ffi.new("MyPaintRectangle *")
        self._request = ffi.new("MyPaintTileRequest *")
        self._tiles = (pixels + TILE - 1) // TILE
        self._view = self._linear_view()
        self._fill()
        self._pen, self._pen_down, self._pressure = (0.0, 0.0), False, 0.0
        self._area = 0.0  # painted area so far, square pixels (LIMITS.paint_area)
        self._move(0.0, 0.0)  # SPIRAL: the pen starts up at the origin

    # ------------------------------------------------------------------ protocol
    def execute(self, statement) -> None:
        """Execute one ``move`` or ``stroke`` (checked first; see the module docstring)."""
        if self._brush is None:
            raise SplStateError("this canvas is closed")
        check_statement(statement, self.settings)
        if isinstance(statement, Move):
            self._move(statement.to.x, statement.to.y)
        else:
            self._charge(statement)
            self._stroke(statement)

    def _charge(self, st: Stroke) -> None:
        """Count the stroke's painted area against ``LIMITS.paint_area`` before drawing it."""
        area = painted_area(self._pen[0], self._pen[1], st.via, st.to, st.size) * self.scale ** 2
        if self._area + area > LIMITS.paint_area:
            raise SplLimitError(
                f"this stroke would bring the painted area of the canvas to about "
                f"{self._area + area:,.0f} square pixels at {self.pixels}×{self.pixels} px, more "
                f"than paint_area={LIMITS.paint_area:,.0f} (a limit, see "
                "docs/language.md#limits); render smaller or draw fewer or smaller strokes")
        self._area += area

    @property
    def pen(self) -> tuple[float, float]:
        """Where the pen is, in canvas units."""
        return self._pen

    @property
    def pen_down(self) -> bool:
        """Whether the next stroke continues the last one (no move since)."""
        return self._pen_down

    def image(self) -> np.ndarray:
        """H×W×3 float32 in [0, 1]: the premultiplied surface composited over the background
        (the surface is opaque unless a brush erases, so this is usually just RGB / 2^15)."""
        px = self._pixels()
        rgb = px[..., :3] * np.float32(1.0 / FIX15)  # float32: exact for 16-bit integers
        alpha = px[..., 3]
        if alpha.min() != FIX15:
            rgb += (1.0 - alpha * np.float32(1.0 / FIX15))[..., None] * self._bg
        return np.clip(rgb, 0.0, 1.0, out=rgb)

    def fix15(self) -> np.ndarray:
        """A copy of the surface as libmypaint holds it: H×W×4 uint16 premultiplied RGBA,
        2^15 = 1.0."""
        return self._pixels().copy()

    def _pixels(self) -> np.ndarray:
        """The surface as H×W×4 uint16: a view where the layout allows, else a copy."""
        if self._brush is None:
            raise SplStateError("this canvas is closed")
        n, px = self._tiles, self.pixels
        if self._view is not None:
            tiles = self._view
        else:
            tiles = np.empty((n, n, TILE, TILE, 4), dtype=np.uint16)
            for ty in range(n):
                for tx in range(n):
                    tiles[ty, tx] = self._tile(tx, ty, readonly=True)
        return tiles.transpose(0, 2, 1, 3, 4).reshape(n * TILE, n * TILE, 4)[:px, :px]

    def close(self) -> None:
        """Free the brush and the surface now. Idempotent."""
        self._view = None
        ffi = getattr(self, "_ffi", None)
        for attr in ("_brush", "_iface"):
            ptr = getattr(self, attr, None)
            if ptr is not None:
                setattr(self, attr, None)
                ffi.release(ptr)  # runs the destructor given to ffi.gc, once

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._brush is None else f"pen at {self._pen}"
        return (f"MyPaintCanvas({self.settings['brush']!r}, {self.pixels}×{self.pixels} px, "
                f"{state})")

    # ------------------------------------------------------------------ surface memory
    def _tile(self, tx: int, ty: int, readonly: bool) -> np.ndarray:
        """A copy of one tile (64×64×4 uint16)."""
        lib, req = self._lib, self._request
        lib.mypaint_tile_request_init(req, 0, tx, ty, readonly)
        lib.mypaint_tiled_surface_tile_request_start(self._tiled, req)
        out = np.frombuffer(self._ffi.buffer(req.buffer, TILE * TILE * 8), dtype=np.uint16)
        out = out.reshape(TILE, TILE, 4).copy()
        lib.mypaint_tiled_surface_tile_request_end(self._tiled, req)
        return out

    def _linear_view(self):
        """A numpy view (tiles_y, tiles_x, 64, 64, 4) of the fixed surface's tile buffer, or
        None if this libmypaint does not store tiles contiguously in row-major order (then
        reads and the fill go through tile requests)."""
        ffi, lib, req, n = self._ffi, self._lib, self._request, self._tiles

        def address(tx, ty):
            lib.mypaint_tile_request_init(req, 0, tx, ty, 1)
            lib.mypaint_tiled_surface_tile_request_start(self._tiled, req)
            ptr = req.buffer
            lib.mypaint_tiled_surface_tile_request_end(self._tiled, req)
            return ptr, int(ffi.cast("uintptr_t", ptr))

        base, at = address(0, 0)
        tile_bytes = TILE * TILE * 4 * 2
        for tx, ty in ({(n - 1, 0), (0, n - 1), (n - 1, n - 1)} if n > 1 else ()):
            if address(tx, ty)[1] != at + (ty * n + tx) * tile_bytes:
                return None
        raw = ffi.buffer(base, n * n * tile_bytes)
        return np.frombuffer(raw, dtype=np.uint16).reshape(n, n, TILE, TILE, 4)

    def _fill(self) -> None:
        """Fill every pixel with the background, opaque (a new surface holds 0xFFFF)."""
        bg = self.settings["background"]
        value = _background_pixel(float(bg.r), float(bg.g), float(bg.b))
        if self._view is not None:  # one 64-bit word per pixel: far faster than a broadcast
            self._view.reshape(-1).view(np.uint64).fill(value.view(np.uint64)[0])
            return
        raw = np.broadcast_to(value, (TILE, TILE, 4)).tobytes()
        lib, req = self._lib, self._request
        for ty in range(self._tiles):
            for tx in range(self._tiles):
                lib.mypaint_tile_request_init(req, 0, tx, ty, 0)
                lib.mypaint_tiled_surface_tile_request_start(self._tiled, req)
                self._ffi.memmove(req.buffer, raw, len(raw))
                lib.mypaint_tiled_surface_tile_request_end(self._tiled, req)

    # ------------------------------------------------------------------ SPIRAL's semantics
    def _move(self, x: float, y: float) -> None:
        lib, brush, iface, s = self._lib, self._brush, self._iface, self.scale
        lib.mypaint_surface_begin_atomic(iface)
        lib.mypaint_brush_reset(brush)
        lib.mypaint_brush_new_stroke(brush)
        lib.mypaint_brush_stroke_to(brush, iface, x * s, y * s, 0.0, 0.0, 0.0, DTIME)
        lib.mypaint_surface_end_atomic(iface, self._roi)
        self._pen, self._pen_down = (x, y), False

    def _stroke(self, st: Stroke) -> None:
        lib, brush, iface, s = self._lib, self._brush, self._iface, self.scale
        radius_id, h_id, s_id, v_id = self._ids
        x0, y0 = self._pen[0] * s, self._pen[1] * s
        x1, y1, x2, y2 = st.via.x * s, st.via.y * s, st.to.x * s, st.to.y * s
        q1 = float(st.pressure)
        q0 = self._pressure if self._pen_down else q1
        h, sat, v = colorsys.rgb_to_hsv(st.color.r, st.color.g, st.color.b)
        set_base, stroke_to = lib.mypaint_brush_set_base_value, lib.mypaint_brush_stroke_to
        lib.mypaint_surface_begin_atomic(iface)
        set_base(brush, radius_id, math.log(st.size * s))
        set_base(brush, h_id, h)
        set_base(brush, s_id, sat)
        set_base(brush, v_id, v)
        if not self._pen_down:  # SPIRAL: lets libmypaint see the pressure before moving
            stroke_to(brush, iface, x0, y0, q1, 0.0, 0.0, DTIME)
        for a, b, c, w0, w1 in _STEPS:
            stroke_to(brush, iface, a * x0 + b * x1 + c * x2, a * y0 + b * y1 + c * y2,
                      q0 * w0 + q1 * w1, 0.0, 0.0, DTIME)
        lib.mypaint_surface_end_atomic(iface, self._roi)
        self._pen, self._pen_down, self._pressure = (st.to.x, st.to.y), True, q1


class MyPaintInterpreter:
    """The ``mypaint`` backend: real libmypaint brushes for the paint domain."""

    name = "mypaint"
    domains = ("paint",)

    def start(self, domain: str, settings: dict, size: int | None = None) -> MyPaintCanvas:
        """A fresh canvas (new brush, background fill, pen up at the origin)."""
        if domain != "paint":
            raise SplTypeError(f"the mypaint backend draws the paint domain, not {domain!r}")
        return MyPaintCanvas(settings, size)
