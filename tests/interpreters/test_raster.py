"""The raster backend: the protocol, batching, state, gradients, and its fidelity to libmypaint
measured on hypothesis-drawn strokes and on fixed sets of random strokes and programs."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from spiral_dsl import Color, Move, Point, Program, SplRangeError, SplTypeError, Stroke
from spiral_dsl.interpreters import get_interpreter
from spiral_dsl.interpreters import raster as R
from spiral_dsl.interpreters.raster_brush import (
    DEFAULT_RENDER,
    BrushModel,
    brush_model,
    calibration_table,
    from_myb,
)
from spiral_dsl.interpreters.raster_dabs import affine_scan
from spiral_dsl.interpreters.raster_fidelity import (
    INK_THRESHOLD,
    fidelity,
    random_programs,
    random_strokes,
    raster_images,
    reference_images,
)
from spiral_dsl.settings import DEFAULTS

PAINT = dict(DEFAULTS["paint"])                       # classic/dry_brush
PEN = {**PAINT, "brush": "classic/pen"}
WHITE = (1.0, 1.0, 1.0)


def step_args(statements):
    """RasterPainter.paint arguments for one statement per canvas."""
    def pick(s, stroke_value, move_value):
        return stroke_value(s) if isinstance(s, Stroke) else move_value
    f = dict(dtype=torch.float32)
    return (torch.tensor([isinstance(s, Stroke) for s in statements]),
            torch.tensor([[s.to.x, s.to.y] for s in statements], **f),
            torch.tensor([pick(s, lambda s: [s.via.x, s.via.y], [0.0, 0.0]) for s in statements], **f),
            torch.tensor([pick(s, lambda s: s.pressure, 0.5) for s in statements], **f),
            torch.tensor([pick(s, lambda s: s.size, 1.0) for s in statements], **f),
            torch.tensor([pick(s, lambda s: list(s.color), [0.0, 0.0, 0.0]) for s in statements], **f))


# ------------------------------------------------------------------------------ protocol
def test_render_frames_and_size():
    p = Program.parse("paint brush=\"classic/pen\"\nmove to (10, 10)\n"
                      "stroke via (30, 10) to (30, 30) pressure 1 size 2 color #000000")
    image = p.render(backend="raster")
    assert image.shape == (64, 64, 3) and image.dtype == np.float32
    assert image.min() < 0.2 and image.max() == pytest.approx(1.0)
    assert image[10, 20].max() < 0.2 and image[40, 10].min() == pytest.approx(1.0)  # ink on the path only
    np.testing.assert_array_equal(list(p.frames(backend="raster"))[-1], image)
    big = p.render(backend="raster", size=128)
    assert big.shape == (128, 128, 3) and big[20, 40].max() < 0.2


def test_background_and_moves_draw_nothing():
    p = Program.parse("paint background=#336699\nmove to (10, 10)\nmove to (50, 50)")
    image = p.render(backend="raster")
    np.testing.assert_allclose(image, np.broadcast_to(np.array([0x33, 0x66, 0x99]) / 255, image.shape), atol=1e-6)


def test_other_domains_and_statements_are_refused():
    with pytest.raises(SplTypeError, match="paint domain"):
        get_interpreter("raster").start("scene", dict(DEFAULTS["scene"]))
    canvas = get_interpreter("raster").start("paint", PAINT)
    with pytest.raises(SplTypeError, match="move and stroke"):
        canvas.execute("stroke")


@pytest.mark.parametrize("statement,needle", [
    (Stroke(Point(1, 1), Point(1, 1), float("nan"), 1.0, Color(0, 0, 0)), "pressure"),
    (Stroke(Point(1, 1), Point(1, 1), 0.5, 0.0, Color(0, 0, 0)), "size=0"),
    (Stroke(Point(1, 1), Point(70, 1), 0.5, 1.0, Color(0, 0, 0)), "x=70"),
    (Stroke(Point(1, 1), Point(1, 1), 0.5, 1.0, Color(0, 1.5, 0)), "g=1.5"),
    (Move(Point(-1, 1)), "x=-1"),
])
def test_invalid_statements_raise_range_errors(statement, needle):
    canvas = get_interpreter("raster").start("paint", PAINT)
    with pytest.raises(SplRangeError, match=needle):
        canvas.execute(statement)


@pytest.mark.parametrize("field,value,needle", [
    ("pressure", float("nan"), r"pressure=nan is out of range \[0, 1\]"),
    ("size", 0.0, r"size=0 is out of range \(0, 64\]"),
    ("to", 65.0, r"to=65 is out of range \[0, 64\]"),
    ("color", -0.5, r"color=-0.5 is out of range \[0, 1\]"),
])
def test_painter_rejects_invalid_tensors(field, value, needle):
    painter = R.RasterPainter(2, PAINT)
    args = dict(zip(("is_stroke", "to", "via", "pressure", "size", "color"),
                    step_args([Stroke(Point(5, 5), Point(9, 9), 0.5, 2.0, Color(0, 0, 0))] * 2)))
    args[field] = args[field].clone()
    args[field].view(-1)[0] = value
    with pytest.raises(SplRangeError, match=needle):
        painter.paint(**args)


# ------------------------------------------------------------------------------ batching and state
@given(st.integers(0, 10_000))
@settings(max_examples=5)
def test_a_batch_paints_like_each_canvas_alone(seed):
    programs = random_programs(5, seed, PEN, length=6, style="uniform")
    together = raster_images(programs, PEN)
    alone = np.concatenate([raster_images([p], PEN) for p in programs])
    np.testing.assert_allclose(together, alone, atol=1e-4)  # bmm sums in another order


def test_few_strokes_in_a_batch_match_all_strokes():
    """Rows painted through the selected-rows path equal the same rows in a full batch."""
    strokes = [s for _, s in random_strokes(8, 4, PEN)]
    moves = [Move(Point(30, 30))] * 8
    full, few = R.RasterPainter(8, PEN), R.RasterPainter(8, PEN)
    full.paint(*step_args(moves))
    few.paint(*step_args(moves))
    full.paint(*step_args(strokes))
    few.paint(*step_args(strokes[:3] + moves[3:]))      # 3 of 8 rows stroke: selected rows
    torch.testing.assert_close(few.canvas[:3], full.canvas[:3])
    assert torch.all(few.canvas[3:] == 1)


def test_reset_mask_and_state_round_trip():
    p = R.RasterPainter(2, PEN)
    p.paint(*step_args([Move(Point(20, 20)), Move(Point(20, 20))]))
    p.paint(*step_args([Stroke(Point(40, 40), Point(30, 20), 1.0, 4.0, Color(0, 0, 0))] * 2))
    saved = p.state()
    q = R.RasterPainter(2, PEN)
    q.load_state(saved)
    nxt = [Stroke(Point(10, 50), Point(5, 30), 0.5, 2.0, Color(1, 0, 0))] * 2
    torch.testing.assert_close(p.paint(*step_args(nxt)), q.paint(*step_args(nxt)))
    p.reset(torch.tensor([False, True]))
    assert torch.all(p.canvas[1] == 1) and p.canvas[0].min() < 0.5
    assert bool(p.pen_down[0]) and not bool(p.pen_down[1]) and p.pen[1].abs().sum() == 0


def test_canvases_handed_out_are_never_overwritten():
    """A step writes into an old canvas's buffer only when nothing references it any more."""
    programs = random_programs(3, 5, PEN, length=8, style="uniform")
    args = [step_args([p[t] for p in programs]) for t in range(8)]
    p = R.RasterPainter(3, PEN)
    held, views, arrays = [], [], []
    for t, a in enumerate(args):
        canvas = p.paint(*a)
        if t % 3 == 0:
            held.append((canvas, canvas.clone()))
        elif t % 3 == 1:
            views.append((canvas[1], canvas[1].clone()))
        else:
            arrays.append((canvas.numpy(), canvas.numpy().copy()))
    p.reset()
    for kept, copy in held + views:
        torch.testing.assert_close(kept, copy, rtol=0, atol=0)
    for kept, copy in arrays:
        np.testing.assert_array_equal(kept, copy)
    q = R.RasterPainter(3, PEN)        # nothing held: two buffers take turns
    strokes = [step_args([s for _, s in random_strokes(3, seed, PEN)]) for seed in range(4)]
    pointers = [q.paint(*a).data_ptr() for a in strokes]
    assert pointers[2] == pointers[0] and pointers[3] == pointers[1] != pointers[0]


def test_a_continued_stroke_carries_the_brush_state():
    """Pen down: the next stroke starts from the trailing dab position, like libmypaint."""
    p = R.RasterPainter(1, PEN)
    p.paint(*step_args([Move(Point(10, 32))]))
    p.paint(*step_args([Stroke(Point(40, 32), Point(25, 32), 1.0, 8.0, Color(0, 0, 0))]))
    actual = p.brush["actual"][0]
    assert 20 < float(actual[0]) < 40 and abs(float(actual[1]) - 32) < 1e-3   # trails the pen
    assert 0 <= float(p.brush["phase"][0]) < 1 and float(p.brush["speed1"][0]) > 0


def test_a_pen_moved_from_outside_restarts_the_brush_there():
    """Code that sets ``pen`` itself (without load_state) gets a stroke from that pen, not one
    trailing from where the brush was."""
    p = R.RasterPainter(1, PEN)
    p.paint(*step_args([Move(Point(10, 50))]))
    p.paint(*step_args([Stroke(Point(54, 50), Point(32, 50), 1.0, 4.0, Color(0, 0, 0))]))
    p.pen = torch.tensor([[10.0, 10.0]])
    image = p.paint(*step_args([Stroke(Point(54, 10), Point(32, 10), 1.0, 4.0, Color(0, 0, 0))]))[0]
    assert image[:, 10, 30].max() < 0.2                     # the new stroke, from (10, 10)
    assert image[:, 20:40].min() > 0.99                     # nothing between the two strokes


def test_affine_scan_matches_the_recurrence():
    q, c = torch.rand(3, 37, 1), torch.randn(3, 37, 2)
    x, expect = torch.zeros(3, 2), []
    for j in range(37):
        x = q[:, j] * x + c[:, j]
        expect.append(x)
    torch.testing.assert_close(affine_scan(q.clone().requires_grad_(True), c), torch.stack(expect, 1))
    with torch.no_grad():                # the in-place path
        torch.testing.assert_close(affine_scan(q, c), torch.stack(expect, 1))


# ------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("brush", ["classic/pen", "classic/dry_brush"])
def test_gradients_exist_and_are_finite(brush):
    settings_ = {**PAINT, "brush": brush}
    p = R.RasterPainter(2, settings_)
    p.paint(torch.tensor([False, False]), torch.tensor([[10.0, 10.0], [50.0, 12.0]]), torch.zeros(2, 2),
           torch.ones(2), torch.ones(2), torch.zeros(2, 3))
    to = torch.tensor([[40.0, 30.0], [20.0, 40.0]], requires_grad=True)
    via = torch.tensor([[20.0, 40.0], [30.0, 20.0]], requires_grad=True)
    pressure = torch.tensor([0.7, 0.3], requires_grad=True)
    size = torch.tensor([3.0, 6.0], requires_grad=True)
    color = torch.tensor([[0.2, 0.3, 0.4], [0.9, 0.1, 0.1]], requires_grad=True)
    canvas = p.paint(torch.tensor([True, True]), to, via, pressure, size, color)
    target = torch.full_like(canvas, 0.5)
    ((canvas - target) ** 2).mean().backward()
    for t in (to, via, pressure, size, color):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0, t


def test_the_no_grad_path_equals_the_autograd_path():
    programs = random_programs(4, 3, PAINT, length=5, style="uniform")
    fast = raster_images(programs, PAINT)
    args = [step_args([p[t] for p in programs]) for t in range(5)]
    slow = R.RasterPainter(4, PAINT)
    size = torch.zeros(4, requires_grad=True)            # forces the autograd path
    for a in args:
        slow.paint(a[0], a[1], a[2], a[3], a[4] + size, a[5])
    np.testing.assert_allclose(fast, slow.canvas.detach().permute(0, 2, 3, 1).clamp(0, 1).numpy(), atol=1e-5)


# ------------------------------------------------------------------------------ brush models
def test_calibrated_brushes_are_stored_and_others_read_from_their_brush_file():
    table = calibration_table()
    for brush in ("classic/pen", "classic/dry_brush"):
        assert brush in table and brush_model(brush) == BrushModel.from_json(table[brush]["model"])
        assert brush_model(brush).render != DEFAULT_RENDER
    other = brush_model("classic/pencil")
    assert other.render == DEFAULT_RENDER and other == from_myb("classic/pencil")
    image = Program.parse('paint brush="classic/pencil"\nmove to (10, 10)\n'
                          "stroke via (30, 10) to (50, 30) pressure 1 size 4 color #000000").render(backend="raster")
    assert image.min() < 0.95                                # it draws, uncalibrated


def test_model_json_round_trip():
    m = from_myb("classic/pen")
    assert BrushModel.from_json(m.to_json()) == m


# ------------------------------------------------------------------------------ fidelity
def dark_colors():
    return st.builds(Color, *[st.floats(0, 0.5)] * 3)


def canvas_points():
    return st.builds(Point, st.floats(0, 64), st.floats(0, 64))


def ink_mismatch(ours, ref):
    """(pixels inked by one render only, pixels inked by either)."""
    a, b = (np.abs(x[0] - 1).max(-1) > INK_THRESHOLD for x in (ours, ref))
    return int((a ^ b).sum()), int((a | b).sum())


@given(canvas_points(), canvas_points(), canvas_points(), st.floats(0.1, 1), st.floats(1, 24), dark_colors())
@settings(max_examples=25)
def test_pen_single_strokes_match_libmypaint(start, via, to, pressure, size, color):
    """Every dark pen stroke of the action space's sizes: the inks differ on at most 40% of
    their union plus 6 pixels (an ink IoU >= 0.6 on strokes of any area; the lowest IoU measured
    over 1,326 dark grid strokes is 0.81), and MSE <= 0.1 (the highest over 1,500: 0.023)."""
    program = [[Move(start), Stroke(to, via, pressure, size, color)]]
    ours, ref = raster_images(program, PEN), reference_images(program, PEN)
    differ, union = ink_mismatch(ours, ref)
    assert differ <= 0.4 * union + 6 and float(np.mean((ours - ref) ** 2)) <= 0.1, (differ, union)


def ink_mass_and_centre(image):
    """Total darkness (pixels × mean channel) and its centroid (x, y) of a (1, H, W, 3) image."""
    dark = (1 - image[0]).mean(-1)
    mass = float(dark.sum())
    yy, xx = np.mgrid[0:dark.shape[0], 0:dark.shape[1]] + 0.5
    return mass, np.array([(dark * xx).sum(), (dark * yy).sum()]) / max(mass, 1e-9)


@given(canvas_points(), canvas_points(), canvas_points(), st.floats(0.1, 1), st.floats(1, 24), dark_colors())
@settings(max_examples=25)
def test_dry_brush_single_strokes_lay_libmypaints_ink(start, via, to, pressure, size, color):
    """The raster draws the dry brush's *expected* ink (libmypaint scatters dabs at random), so
    the law is about amounts: ink mass within 0.6-1.8x libmypaint's (measured over 600 random
    strokes: 0.79-1.46), its centroid within 6 px at pressure <= 0.4 (measured: <= 3.9 px;
    higher pressure scatters dabs up to 1.4 x size away), and no ink where libmypaint has none;
    for strokes of 20 dabs or more (dabs every size/12 pixels): a few dabs are too random."""
    assume(math.dist(start, to) * 12 / size >= 20)
    program = [[Move(start), Stroke(to, via, pressure, size, color)]]
    (mass, centre), (ref_mass, ref_centre) = (ink_mass_and_centre(x) for x in (
        raster_images(program, PAINT), reference_images(program, PAINT)))
    if ref_mass < 5:
        assert mass < 15, (mass, ref_mass)
        return
    assert 0.6 <= mass / ref_mass <= 1.8, (mass, ref_mass)
    if pressure <= 0.4:
        assert np.linalg.norm(centre - ref_centre) <= 6, (centre, ref_centre)


# measured on these sets (seed 2024): pen strokes 0.966 / 0.0008, programs 0.976 / 0.0007, strokes
# at 32 px 0.947 / 0.0013; dry_brush strokes 0.855 / 0.0054, programs 0.844 / 0.0079, strokes at
# 32 px 0.86 / 0.0044 (docs/interpreters.md has the bench's larger sets)
BOUNDS = {"classic/pen": {"strokes": (0.93, 0.002), "programs": (0.93, 0.003), "strokes_32px": (0.9, 0.002)},
          "classic/dry_brush": {"strokes": (0.80, 0.008), "programs": (0.78, 0.011), "strokes_32px": (0.78, 0.008)}}


@pytest.mark.parametrize("brush", sorted(BOUNDS))
def test_mean_fidelity_on_random_strokes_and_programs(brush):
    settings_ = {**PAINT, "brush": brush}
    strokes = random_strokes(96, 2024, settings_)
    sets = {"strokes": (strokes, None), "programs": (random_programs(16, 2024, settings_), None),
            "strokes_32px": (strokes[:48], 32)}
    for name, (programs, size) in sets.items():
        f = fidelity(raster_images(programs, settings_, size=size),
                     reference_images(programs, settings_, size=size), WHITE)
        min_iou, max_mse = BOUNDS[brush][name]
        assert f["ink_iou"] >= min_iou and f["mse"] <= max_mse, (name, f)


def test_a_miscalibrated_model_fails_the_bounds():
    """The fidelity bounds can fail: a brush model with the wrong radius misses them."""
    wrong = dataclasses.replace(brush_model("classic/pen"),
                                render=dataclasses.replace(brush_model("classic/pen").render, radius_scale=1.4))
    programs = random_strokes(48, 2024, PEN)
    f = fidelity(raster_images(programs, PEN, wrong), reference_images(programs, PEN), WHITE)
    assert f["ink_iou"] < BOUNDS["classic/pen"]["strokes"][0]
