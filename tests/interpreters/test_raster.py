"""The raster backend: protocol, batching, gradients, and fidelity measured against libmypaint."""
import numpy as np
import pytest
import torch

from spiral_dsl import Program, SplRangeError
from spiral_dsl.interpreters.raster import RasterPainter, brush_model
from spiral_dsl.interpreters.raster_calibration import (ink_iou, random_strokes, raster_images,
                                                        reference_images)
from spiral_dsl.settings import DEFAULTS

PAINT = dict(DEFAULTS["paint"])


def test_render_backend_and_replay():
    p = Program.parse("paint\nmove to (10, 10)\nstroke via (30, 10) to (30, 30) pressure 1 size 2 color #000000")
    image = p.render(backend="raster")
    assert image.shape == (64, 64, 3) and image.dtype == np.float32
    assert image.min() < 0.2 and image.max() == pytest.approx(1.0)
    np.testing.assert_array_equal(list(p.frames(backend="raster"))[-1], image)
    assert p.render(backend="raster", size=128).shape == (128, 128, 3)


def test_batch_equals_one_by_one():
    pairs = random_strokes(6, 3, PAINT)
    together = raster_images(pairs, PAINT, brush_model(PAINT["brush"]))
    alone = torch.cat([raster_images([pair], PAINT, brush_model(PAINT["brush"])) for pair in pairs])
    torch.testing.assert_close(together, alone)


def test_moves_draw_nothing_and_reset_masks():
    p = RasterPainter(2, PAINT)
    z = torch.zeros(2)
    p.step(torch.tensor([False, True]), torch.tensor([[20.0, 20], [20, 20]]), torch.tensor([[5.0, 5], [5, 5]]),
           torch.ones(2), torch.ones(2) * 3, torch.zeros(2, 3))
    assert torch.all(p.canvas[0] == 1) and p.canvas[1].min() < 0.5
    p.reset(torch.tensor([False, True]))
    assert torch.all(p.canvas[1] == 1) and bool(p.pen_down[0]) and not bool(p.pen_down[1])
    del z


def test_differentiable_in_continuous_parameters():
    p = RasterPainter(1, PAINT)
    to = torch.tensor([[40.0, 30.0]], requires_grad=True)
    via = torch.tensor([[20.0, 40.0]], requires_grad=True)
    pressure = torch.tensor([0.7], requires_grad=True)
    size = torch.tensor([3.0], requires_grad=True)
    color = torch.tensor([[0.2, 0.3, 0.4]], requires_grad=True)
    p.step(torch.tensor([False]), torch.tensor([[10.0, 10.0]]), torch.zeros(1, 2), torch.ones(1), torch.ones(1), torch.zeros(1, 3))
    canvas = p.step(torch.tensor([True]), to, via, pressure, size, color)
    canvas.mean().backward()
    for t in (to, via, pressure, size, color):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_invalid_values_are_rejected():
    canvas = Program.parse("paint").render  # noqa: F841 - protocol path below
    from spiral_dsl.interpreters import get_interpreter
    from spiral_dsl import Stroke, Point, Color
    c = get_interpreter("raster").start("paint", PAINT)
    with pytest.raises(SplRangeError, match="pressure"):
        c.execute(Stroke(Point(1, 1), Point(1, 1), float("nan"), 1.0, Color(0, 0, 0)))


@pytest.mark.parametrize("brush,min_iou,max_mse", [("classic/pen", 0.78, 0.018), ("classic/dry_brush", 0.62, 0.016)])
def test_fidelity_against_libmypaint(brush, min_iou, max_mse):
    """Measured on 48 random single strokes; the bounds sit just below what calibration reaches
    (pen ≈ 0.84 IoU, dry_brush ≈ 0.72; see docs/interpreters.md) so a regression fails."""
    settings = {**PAINT, "brush": brush}
    pairs = random_strokes(48, 123, settings)
    ref = reference_images(pairs, settings)
    with torch.no_grad():
        ours = raster_images(pairs, settings, brush_model(brush)).permute(0, 2, 3, 1).numpy()
    iou = ink_iou(ours, ref, settings["background"]).mean()
    mse = float(np.mean((ours - ref) ** 2))
    assert iou >= min_iou and mse <= max_mse, (iou, mse)


def test_fidelity_on_whole_programs():
    from spiral_dsl.actions import ActionSpec
    from spiral_dsl.generate import random_program
    spec = ActionSpec.for_domain("paint", {"brush": "classic/pen"})
    ious = []
    for seed in range(8):
        p = random_program(spec, 10, seed)
        a, b = p.render(backend="raster"), p.render()
        ious.append(ink_iou(a[None], b[None], (1, 1, 1))[0])
    assert np.mean(ious) > 0.6, ious
