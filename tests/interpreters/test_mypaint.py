"""Fidelity of the libmypaint backend (real libmypaint), as property tests."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiral_dsl import Color, Move, Point, Program, SplBackendError, SplRangeError, Stroke
from spiral_dsl.interpreters import get_interpreter
from spiral_dsl.interpreters.libmypaint import ffi, lib
from spiral_dsl.interpreters.mypaint import DTIME, bezier
from spiral_dsl.settings import DEFAULTS
from spiral_dsl.testing import programs

PAINT = dict(DEFAULTS["paint"])
PEN = {**PAINT, "brush": "classic/pen"}
MP = get_interpreter("mypaint")


def render(statements, settings=PAINT, size=None):
    canvas = MP.start("paint", settings, size)
    try:
        for s in statements:
            canvas.execute(s)
        return canvas.image()
    finally:
        canvas.close()


def ink(image, background=(1, 1, 1), threshold=0.05):
    return np.abs(image - np.asarray(background, np.float32)).max(-1) > threshold


@st.composite
def single_strokes(draw, brush_settings=PAINT):
    coord = st.integers(4, 60).map(float)
    start = Point(draw(coord), draw(coord))
    to, via = Point(draw(coord), draw(coord)), Point(draw(coord), draw(coord))
    size = draw(st.sampled_from([1.0, 2.0, 4.0]))
    pressure = draw(st.sampled_from([0.5, 0.8, 1.0]))
    color = Color(*draw(st.tuples(*[st.integers(0, 4).map(lambda k: k / 4)] * 3)))
    return Move(start), Stroke(to, via, pressure, size, color)


def test_dtime_is_float32_point_one():
    assert DTIME == float(np.float32(0.1)) == 0.10000000149011612


@settings(max_examples=20)
@given(programs(domain="paint", core_only=True, max_statements=6))
def test_render_is_deterministic(p):
    np.testing.assert_array_equal(p.render(), p.render())


def test_render_is_deterministic_across_processes():
    p = Program.load(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "smile.spl"))
    code = ("import sys, numpy as np; from spiral_dsl import Program; "
            "sys.stdout.buffer.write(Program.load(sys.argv[1]).render().tobytes())")
    out = subprocess.run([sys.executable, "-c", code, os.path.abspath(os.path.join(
        os.path.dirname(__file__), "..", "..", "examples", "smile.spl"))], capture_output=True, check=True)
    other = np.frombuffer(out.stdout, np.float32).reshape(64, 64, 3)
    np.testing.assert_array_equal(p.render(), other)


@settings(max_examples=15)
@given(programs(domain="paint", core_only=True, max_statements=6))
def test_replay_equals_render(p):
    frames = list(p.frames())
    assert len(frames) == len(p)
    if frames:
        np.testing.assert_array_equal(frames[-1], p.render())


@settings(max_examples=10)
@given(single_strokes())
def test_a_move_leaves_no_ink(pair):
    move, _ = pair
    image = render([move, Move(Point(10, 50)), move])
    assert not ink(image, threshold=1e-6).any()


@settings(max_examples=25)
@given(single_strokes(PEN))
def test_ink_stays_near_the_curve(pair):
    move, stroke = pair
    image = render([move, stroke], PEN)
    ys, xs = np.nonzero(ink(image))
    t = np.linspace(0, 1, 400)
    curve = np.array([bezier((move.to.x, move.to.y), (stroke.via.x, stroke.via.y),
                             (stroke.to.x, stroke.to.y), u) for u in t])
    centres = np.stack([xs + 0.5, ys + 0.5], 1)
    d = np.sqrt(((centres[:, None] - curve[None]) ** 2).sum(-1)).min(1)
    # pen radius grows with pressure (exp(0.5 p) < 1.7) and anti-aliasing adds a pixel or two
    assert (d <= stroke.size * 1.7 + 2.5).all(), d.max()


@pytest.mark.parametrize("rgb", [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.4, 1.0), (0.2, 0.6, 0.2)])
def test_opaque_ink_has_the_requested_colour(rgb):
    stroke = Stroke(Point(50, 32), Point(32, 32), 1.0, 4.0, Color(*rgb))
    image = render([Move(Point(14, 32)), stroke], PEN)
    core = image[28:37, 20:45].reshape(-1, 3)   # the middle of a thick opaque stroke
    np.testing.assert_allclose(core.mean(0), rgb, atol=0.06)


@settings(max_examples=15)
@given(single_strokes(PEN))
def test_larger_size_never_inks_fewer_pixels(pair):
    move, stroke = pair
    counts = []
    for size in (1.0, 2.0, 4.0, 8.0):
        s = Stroke(stroke.to, stroke.via, stroke.pressure, size, stroke.color)
        counts.append(ink(render([move, s], PEN)).sum())
    assert counts == sorted(counts)


@pytest.mark.parametrize("brush", ["classic/pen", "classic/dry_brush"])
@pytest.mark.parametrize("example", ["ticks", "smile"])
def test_double_resolution_downsampled_is_close(brush, example):
    # libmypaint's speed inputs see pixels per second, so 2x is not exactly 1x upsampled:
    # measured here, the 2x-downsampled error is 3-10% of the drawing's own contrast
    p = Program.load(os.path.join(os.path.dirname(__file__), "..", "..", "examples", f"{example}.spl")).lower()
    p = Program.parse(str(p).replace("paint ", f'paint brush="{brush}" ', 1))
    low = p.render()
    high = p.render(size=128).reshape(64, 2, 64, 2, 3).mean((1, 3))
    assert np.mean((low - high) ** 2) < 0.15 * np.mean((low - 1) ** 2)


def test_background_setting():
    p = Program.parse("paint background=#336699\nmove to (1, 1)")
    np.testing.assert_allclose(p.render()[5, 5], [0x33 / 255, 0x66 / 255, 0x99 / 255], atol=1e-4)


@pytest.mark.parametrize("bad", [
    Stroke(Point(float("nan"), 1), Point(1, 1), 1.0, 1.0, Color(0, 0, 0)),
    Stroke(Point(1, 1), Point(1, float("inf")), 1.0, 1.0, Color(0, 0, 0)),
    Stroke(Point(1, 1), Point(1, 1), 1.5, 1.0, Color(0, 0, 0)),
    Stroke(Point(1, 1), Point(1, 1), 1.0, 0.0, Color(0, 0, 0)),
    Stroke(Point(1, 1), Point(1, 1), 1.0, 1.0, Color(0, 2, 0)),
    Move(Point(-1, 3)),
])
def test_invalid_values_are_rejected_before_any_c_call(bad, monkeypatch):
    canvas = MP.start("paint", PAINT)
    calls = []
    real = lib.mypaint_brush_stroke_to
    monkeypatch.setattr(type(lib), "__getattr__", lambda self, name: (
        (lambda *a: calls.append(a) or real(*a)) if name == "mypaint_brush_stroke_to"
        else getattr(__import__("spiral_dsl.interpreters.libmypaint", fromlist=["_load"])._load()[1], name)))
    with pytest.raises(SplRangeError):
        canvas.execute(bad)
    assert calls == []
    canvas.close()


def test_unknown_brush_lists_close_matches():
    with pytest.raises(SplRangeError, match="classic/dry_brush"):
        Program.parse('paint brush="classic/dry_brsh"\nmove to (1, 1)').render()


def test_brush_by_path(tmp_path):
    from spiral_dsl.interpreters.libmypaint import brush_path
    path = tmp_path / "mine.myb"
    path.write_bytes(brush_path("classic/pen").read_bytes())
    p = Program.parse(f'paint brush="{path}"\nmove to (10, 10)\n'
                      "stroke via (20, 20) to (30, 30) pressure 1 size 2 color #000000")
    assert ink(p.render()).sum() > 20


def test_missing_library_is_a_clear_error():
    code = ("from spiral_dsl import Program\n"
            "try:\n    Program.parse('paint\\nmove to (1, 1)').render()\n"
            "except Exception as e:\n    print(type(e).__name__, e)")
    env = dict(os.environ, SPIRAL_LIBMYPAINT="/nonexistent/libmypaint.so")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.startswith("SplBackendError") and "apt-get install libmypaint-1.5-1" in out.stdout
    assert issubclass(SplBackendError, Exception)


def _reference_render(statements, brush_json: bytes) -> np.ndarray:
    """An independent driver of the raw C calls following deepmind/spiral's wrapper: a new
    brush and surface, stroke_to per sample point, reading tiles back."""
    import colorsys
    surface = lib.mypaint_fixed_tiled_surface_new(64, 64)
    iface = lib.mypaint_fixed_tiled_surface_interface(surface)
    tiled = ffi.cast("MyPaintTiledSurface *", surface)
    brush = lib.mypaint_brush_new()
    lib.mypaint_brush_from_string(brush, brush_json)
    req = ffi.new("MyPaintTileRequest *")
    lib.mypaint_tile_request_init(req, 0, 0, 0, 0)
    lib.mypaint_tiled_surface_tile_request_start(tiled, req)
    white = np.full(64 * 64 * 4, 1 << 15, np.uint16).tobytes()
    ffi.memmove(req.buffer, white, len(white))
    lib.mypaint_tiled_surface_tile_request_end(tiled, req)
    roi = ffi.new("MyPaintRectangle *")
    ids = [lib.mypaint_brush_setting_from_cname(n) for n in (b"radius_logarithmic", b"color_h", b"color_s", b"color_v")]

    def move(x, y):
        lib.mypaint_surface_begin_atomic(iface)
        lib.mypaint_brush_reset(brush)
        lib.mypaint_brush_new_stroke(brush)
        lib.mypaint_brush_stroke_to(brush, iface, x, y, 0.0, 0.0, 0.0, DTIME)
        lib.mypaint_surface_end_atomic(iface, roi)

    pen, down, last_p = (0.0, 0.0), False, 0.0
    move(0.0, 0.0)
    for s in statements:
        if isinstance(s, Move):
            move(s.to.x, s.to.y)
            pen, down = (s.to.x, s.to.y), False
            continue
        lib.mypaint_brush_set_base_value(brush, ids[0], float(np.log(s.size)))
        for i, v in zip(ids[1:], colorsys.rgb_to_hsv(*s.color)):
            lib.mypaint_brush_set_base_value(brush, i, v)
        lib.mypaint_surface_begin_atomic(iface)
        p_start = last_p if down else s.pressure
        if not down:
            lib.mypaint_brush_stroke_to(brush, iface, pen[0], pen[1], s.pressure, 0.0, 0.0, DTIME)
        for i, t in enumerate(np.linspace(0, 1, 51)[1:], 1):
            u = 1 - t
            x = u * u * pen[0] + 2 * u * t * s.via.x + t * t * s.to.x
            y = u * u * pen[1] + 2 * u * t * s.via.y + t * t * s.to.y
            lib.mypaint_brush_stroke_to(brush, iface, x, y, p_start + (s.pressure - p_start) * t, 0.0, 0.0, DTIME)
        lib.mypaint_surface_end_atomic(iface, roi)
        pen, down, last_p = (s.to.x, s.to.y), True, s.pressure
    lib.mypaint_tile_request_init(req, 0, 0, 0, 1)
    lib.mypaint_tiled_surface_tile_request_start(tiled, req)
    out = np.frombuffer(ffi.buffer(req.buffer, 64 * 64 * 8), np.uint16).reshape(64, 64, 4).astype(np.float32)
    lib.mypaint_tiled_surface_tile_request_end(tiled, req)
    lib.mypaint_brush_unref(brush)
    lib.mypaint_surface_unref(iface)
    return np.clip(out[..., :3] / (1 << 15) + (1 - out[..., 3:] / (1 << 15)), 0, 1)


@settings(max_examples=20)
@given(programs(domain="paint", core_only=True, max_statements=8), st.sampled_from(["classic/dry_brush", "classic/pen"]))
def test_pixel_exact_against_a_reference_driver(p, brush):
    from spiral_dsl.interpreters.libmypaint import brush_path
    settings_ = {**p.settings, "brush": brush, "canvas": 64, "background": Color(1.0, 1.0, 1.0)}
    statements = [s for s in p.lower() if max(s.to.x, s.to.y) <= 64
                  and (not isinstance(s, Stroke) or max(s.via.x, s.via.y) <= 64)]
    ours = render(statements, settings_)
    reference = _reference_render(statements, brush_path(brush).read_bytes())
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_memory_stays_flat_over_many_renders():
    import resource
    p = Program.load(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "smile.spl"))
    for _ in range(200):
        p.render()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(1000):
        p.render()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 20_000, f"max RSS grew by {after - before} KiB over 1,000 renders"
