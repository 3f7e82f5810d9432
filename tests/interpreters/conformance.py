"""Reusable conformance mixins (dm_env ``test_utils`` style) for the two interpreter contracts.

Every backend must pass these checks of the contracts stated in
:mod:`spiral_dsl.interpreters.base`. Subclass a mixin in a ``Test...`` class, set ``domain``
and override its one factory; pytest collects the checks:

* :class:`CanvasConformance` — one canvas (:class:`~spiral_dsl.interpreters.base.Canvas`):
  override ``start(settings, size=None)``.
* :class:`BatchCanvasConformance` — B canvases (:class:`~spiral_dsl.interpreters.base.
  BatchCanvas`): override ``start_batch(settings, batch, size=None)``; ``reference`` names the
  single-canvas backend whose images each row must equal.
"""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from spiral_dsl import Color, Move, Place, Point, SplRangeError, SplStateError, SplTypeError, Stroke
from spiral_dsl.actions import ActionSpec
from spiral_dsl.generate import random_actions
from spiral_dsl.interpreters import BatchCanvas, Canvas, get_interpreter, take_rows
from spiral_dsl.settings import DEFAULTS

#: statements that visibly draw, per domain (dark ink on the white paper; a red cube on the table)
DRAWS = {"paint": [Move(Point(10, 10)), Stroke(Point(50, 40), Point(30, 10), 1.0, 4.0, Color(0, 0, 0))],
         "scene": [Place("cube", (4, 4), "large", Color(1, 0, 0))]}
#: a statement of the other domain (a canvas must refuse it before drawing)
FOREIGN = {"paint": Place("cube", (1, 1), "small", Color(0, 0, 0)), "scene": Move(Point(1, 1))}
#: statements with an out-of-range value
OUT_OF_RANGE = {"paint": Stroke(Point(math.nan, 10), Point(5, 5), 0.5, 2.0, Color(0, 0, 0)),
                "scene": Place("cube", (999, 0), "small", Color(0, 0, 0))}


class CanvasConformance:
    """Checks of the single-canvas contract (:class:`~spiral_dsl.interpreters.base.Canvas`)."""

    domain = "paint"

    def start(self, settings: dict, size: int | None = None):  # pragma: no cover - subclasses
        raise NotImplementedError

    def settings(self) -> dict:
        return dict(DEFAULTS[self.domain])

    def draw(self, statements, size=None) -> np.ndarray:
        canvas = self.start(self.settings(), size)
        try:
            for st in statements:
                canvas.execute(st)
            return canvas.image()
        finally:
            canvas.close()

    def test_is_a_canvas(self):
        canvas = self.start(self.settings())
        assert isinstance(canvas, Canvas)
        canvas.close()

    @pytest.mark.parametrize("size", [None, 32])
    def test_image_is_hxwx3_float32_in_0_1_at_size(self, size):
        image = self.draw(DRAWS[self.domain], size)
        side = size or self.settings()["canvas"]
        assert image.shape == (side, side, 3) and image.dtype == np.float32
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0

    def test_execute_draws_and_is_deterministic(self):
        blank, drawn, again = self.draw([]), self.draw(DRAWS[self.domain]), self.draw(DRAWS[self.domain])
        assert np.abs(drawn - blank).max() > 0.1
        np.testing.assert_array_equal(drawn, again)

    def test_image_is_a_new_array_later_statements_leave_alone(self):
        canvas = self.start(self.settings())
        first = canvas.image()
        kept = first.copy()
        first[:] = 0.5                               # writing to it changes nothing inside
        np.testing.assert_array_equal(canvas.image(), kept)
        for st in DRAWS[self.domain]:
            canvas.execute(st)
        np.testing.assert_array_equal(first, 0.5)    # and drawing does not write to it
        canvas.close()

    def test_a_statement_of_another_domain_is_a_type_error_and_draws_nothing(self):
        canvas = self.start(self.settings())
        before = canvas.image()
        with pytest.raises(SplTypeError):
            canvas.execute(FOREIGN[self.domain])
        np.testing.assert_array_equal(canvas.image(), before)
        canvas.close()

    def test_an_out_of_range_value_is_a_range_error_and_draws_nothing(self):
        canvas = self.start(self.settings())
        before = canvas.image()
        with pytest.raises(SplRangeError):
            canvas.execute(OUT_OF_RANGE[self.domain])
        np.testing.assert_array_equal(canvas.image(), before)
        canvas.close()

    def test_a_closed_canvas_raises_the_state_error(self):
        canvas = self.start(self.settings())
        canvas.close()
        canvas.close()                               # idempotent
        with pytest.raises(SplStateError, match="closed"):
            canvas.execute(DRAWS[self.domain][0])
        with pytest.raises(SplStateError, match="closed"):
            canvas.image()


def random_values(spec: ActionSpec, batch: int, steps: int, seed: int) -> list[dict]:
    """``steps`` batches of values (torch) of uniformly random actions, one episode per row."""
    rng = random.Random(seed)
    episodes = [random_actions(spec, steps, rng, "uniform") for _ in range(batch)]
    return [spec.values_of({s: torch.as_tensor(a) for s, a in spec.stack([e[t] for e in episodes]).items()})
            for t in range(steps)]


class BatchCanvasConformance:
    """Checks of the batch contract (:class:`~spiral_dsl.interpreters.base.BatchCanvas`)."""

    domain = "paint"
    reference = "mypaint"       # the single-canvas backend each row must draw like
    atol = 1e-5                 # how closely (a batch of B against a batch of one)
    steps = 3                   # statements per episode in these checks

    def start_batch(self, settings: dict, batch: int, size: int | None = None):  # pragma: no cover
        raise NotImplementedError

    def settings(self) -> dict:
        return dict(DEFAULTS[self.domain])

    def spec(self) -> ActionSpec:
        return ActionSpec.for_domain(self.domain, self.settings())

    def run(self, canvases, values) -> list[torch.Tensor]:
        return [canvases.step(v).clone() for v in values]

    def test_is_a_batch_canvas_of_b_images(self):
        canvases = self.start_batch(self.settings(), 3)
        assert isinstance(canvases, BatchCanvas) and canvases.batch == 3
        image = canvases.image()
        side = self.settings()["canvas"]
        assert torch.is_tensor(image) and image.dtype == torch.float32 and image.shape == (3, 3, side, side)
        assert float(image.min()) >= 0 and float(image.max()) <= 1
        canvases.close()

    def test_size_sets_the_pixels(self):
        canvases = self.start_batch(self.settings(), 2, 32)
        assert canvases.image().shape == (2, 3, 32, 32)
        canvases.close()

    def test_step_returns_the_image_and_each_row_draws_like_the_single_canvas(self):
        spec = self.spec()
        values = random_values(spec, 3, self.steps, seed=1)
        canvases = self.start_batch(self.settings(), 3)
        for v in values:
            out = canvases.step(v)
            torch.testing.assert_close(out, canvases.image())
        from spiral_dsl.values import statements_of_values
        columns = [statements_of_values(self.domain, v) for v in values]
        interp = get_interpreter(self.reference, self.domain)
        for b in range(3):
            single = interp.start(self.domain, self.settings())
            for column in columns:
                single.execute(column[b])
            expected = torch.from_numpy(single.image()).permute(2, 0, 1)
            single.close()
            torch.testing.assert_close(out[b], expected, atol=self.atol, rtol=0)
        canvases.close()

    def test_images_handed_out_are_not_changed_by_later_steps(self):
        values = random_values(self.spec(), 2, 2, seed=2)
        canvases = self.start_batch(self.settings(), 2)
        first = canvases.step(values[0])
        kept = first.clone()
        canvases.step(values[1])
        torch.testing.assert_close(first, kept, atol=0, rtol=0)
        canvases.close()

    def test_load_state_continues_exactly_with_any_batch(self):
        values = random_values(self.spec(), 2, self.steps + 1, seed=3)
        canvases = self.start_batch(self.settings(), 2)
        canvases.step(values[0])
        state = canvases.state()
        ends = self.run(canvases, values[1:])[-1]
        # the state is not changed by the steps after it; rows can be picked and repeated
        other = self.start_batch(self.settings(), 1)
        other.load_state(take_rows(state, [1, 1, 0]))
        assert other.batch == 3
        rest = [{k: v[[1, 1, 0]] for k, v in vals.items()} for vals in values[1:]]
        again = self.run(other, rest)[-1]
        torch.testing.assert_close(again, ends[[1, 1, 0]], atol=self.atol, rtol=0)
        canvases.close()
        other.close()

    def test_reset_all_or_some_gives_fresh_canvases(self):
        values = random_values(self.spec(), 3, self.steps, seed=4)
        canvases = self.start_batch(self.settings(), 3)
        blank = canvases.image().clone()
        drawn = self.run(canvases, values)[-1]
        canvases.reset(torch.tensor([True, False, True]))
        image = canvases.image()
        torch.testing.assert_close(image[[0, 2]], blank[[0, 2]], atol=0, rtol=0)
        torch.testing.assert_close(image[1], drawn[1], atol=0, rtol=0)
        canvases.reset()
        torch.testing.assert_close(canvases.image(), blank, atol=0, rtol=0)
        canvases.close()

    def test_a_reset_mask_of_another_shape_is_a_type_error_and_resets_nothing(self):
        values = random_values(self.spec(), 3, 1, seed=8)[0]
        canvases = self.start_batch(self.settings(), 3)
        drawn = canvases.step(values).clone()
        for mask in (torch.tensor([True]), torch.tensor([True, False, True, True]),
                     torch.ones(3, 1, dtype=torch.bool)):
            with pytest.raises(SplTypeError, match="reset mask"):
                canvases.reset(mask)
        torch.testing.assert_close(canvases.image(), drawn, atol=0, rtol=0)
        canvases.reset([False, True, False])                 # a sequence is a mask too
        torch.testing.assert_close(canvases.image()[[0, 2]], drawn[[0, 2]], atol=0, rtol=0)
        canvases.close()

    def test_values_of_the_wrong_batch_are_a_type_error(self):
        values = random_values(self.spec(), 3, 1, seed=5)[0]
        canvases = self.start_batch(self.settings(), 2)
        with pytest.raises(SplTypeError):
            canvases.step(values)
        canvases.close()

    def test_a_missing_field_or_a_field_of_the_wrong_shape_is_a_type_error(self):
        values = dict(random_values(self.spec(), 2, 1, seed=9)[0])
        canvases = self.start_batch(self.settings(), 2)
        blank = canvases.image().clone()
        key = "to" if self.domain == "paint" else "cell"
        for bad in ({}, {k: v for k, v in values.items() if k != key},
                    {**values, key: values[key][:, 0]}, {**values, "color": values["color"][:, :2]}):
            with pytest.raises(SplTypeError):
                canvases.step(bad)
        torch.testing.assert_close(canvases.image(), blank, atol=0, rtol=0)   # nothing drawn
        canvases.close()

    def test_out_of_range_values_are_a_range_error(self):
        values = dict(random_values(self.spec(), 2, 1, seed=6)[0])
        key = "to" if self.domain == "paint" else "cell"
        values[key] = values[key] * 0 + 999
        canvases = self.start_batch(self.settings(), 2)
        with pytest.raises(SplRangeError):
            canvases.step(values)
        canvases.close()

    def test_a_closed_batch_raises_the_state_error(self):
        values = random_values(self.spec(), 2, 1, seed=7)[0]
        canvases = self.start_batch(self.settings(), 2)
        canvases.close()
        canvases.close()                             # idempotent
        for call in (lambda: canvases.step(values), canvases.image, canvases.state, canvases.reset,
                     lambda: canvases.load_state({})):
            with pytest.raises(SplStateError, match="closed"):
                call()
