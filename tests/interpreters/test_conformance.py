"""Every backend passes the conformance mixins of both contracts; the batched raster and the
adapter over libmypaint agree on final images within the raster's documented bound."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from spiral_dsl.actions import ActionSpec
from spiral_dsl.generate import random_actions
from spiral_dsl.interpreters import get_interpreter
from spiral_dsl.interpreters.batched import Batched, start_batch
from spiral_dsl.interpreters.raster_fidelity import fidelity
from spiral_dsl.settings import DEFAULTS

from .conformance import BatchCanvasConformance, CanvasConformance


# ------------------------------------------------------------------------------ one canvas
class TestMypaintCanvas(CanvasConformance):
    domain = "paint"

    def start(self, settings, size=None):
        return get_interpreter("mypaint").start("paint", settings, size)


class TestRasterCanvas(CanvasConformance):
    domain = "paint"

    def start(self, settings, size=None):
        return get_interpreter("raster").start("paint", settings, size)


class TestMujocoCanvas(CanvasConformance):
    domain = "scene"

    def start(self, settings, size=None):
        return get_interpreter("mujoco").start("scene", settings, size)


# ------------------------------------------------------------------------------ B canvases
class TestRasterBatch(BatchCanvasConformance):
    """The raster's own batch (RasterPainter); each row as its batch of one (RasterCanvas)."""
    domain, reference, atol = "paint", "raster", 1e-5

    def start_batch(self, settings, batch, size=None):
        return start_batch("raster", "paint", settings, batch, size)


class TestBatchedMypaint(BatchCanvasConformance):
    domain, reference, atol = "paint", "mypaint", 0.0

    def start_batch(self, settings, batch, size=None):
        return Batched(get_interpreter("mypaint"), "paint", settings, batch, size)


class TestBatchedMujoco(BatchCanvasConformance):
    domain, reference, atol, steps = "scene", "mujoco", 0.0, 2

    def start_batch(self, settings, batch, size=None):
        return Batched(get_interpreter("mujoco"), "scene", settings, batch, size)


def test_start_batch_picks_the_native_batch_or_the_adapter():
    from spiral_dsl.interpreters.raster import RasterPainter
    paint = dict(DEFAULTS["paint"])
    native, adapted = start_batch("raster", "paint", paint, 2), start_batch("mypaint", "paint", paint, 2)
    assert isinstance(native, RasterPainter) and isinstance(adapted, Batched)
    native.close()
    adapted.close()


def test_batched_closes_the_canvases_it_started_when_a_later_start_fails():
    """Opening B canvases where the third start fails: the two started are closed, not leaked."""
    from spiral_dsl.errors import SplBackendError, SplStateError
    mypaint, started = get_interpreter("mypaint"), []

    class ThirdStartFails:   # libmypaint, with a start that fails once two canvases exist
        name, domains = mypaint.name, mypaint.domains

        def start(self, domain, settings, size=None):
            if len(started) == 2:
                raise SplBackendError("no third canvas")
            started.append(mypaint.start(domain, settings, size))
            return started[-1]

    with pytest.raises(SplBackendError, match="no third canvas"):
        Batched(ThirdStartFails(), "paint", dict(DEFAULTS["paint"]), 3)
    assert len(started) == 2
    for canvas in started:
        with pytest.raises(SplStateError, match="closed"):
            canvas.image()


# ------------------------------------------------------------------------------ raster ≈ libmypaint
#: the raster's documented fidelity (docs/interpreters.md, bench/bench_raster.py): mean ink IoU
BOUND = {"classic/pen": 0.9, "classic/dry_brush": 0.8}


@pytest.mark.parametrize("brush", sorted(BOUND))
def test_batched_raster_and_the_adapter_over_libmypaint_agree(brush):
    """The same actions (pen-style programs of 10 statements) stepped through both batch
    canvases give final images within the raster's documented ink-IoU bound."""
    settings = {**DEFAULTS["paint"], "brush": brush}
    spec = ActionSpec.for_domain("paint", settings)
    rng = random.Random(2024)
    episodes = [random_actions(spec, 10, rng, "pen") for _ in range(24)]
    finals = []
    for canvases in (start_batch("raster", "paint", settings, 24), start_batch("mypaint", "paint", settings, 24)):
        with torch.no_grad():
            for t in range(10):
                indices = {s: torch.as_tensor(a) for s, a in spec.stack([e[t] for e in episodes]).items()}
                image = canvases.step(spec.values_of(indices))
        finals.append(image.permute(0, 2, 3, 1).numpy().copy())
        canvases.close()
    f = fidelity(finals[0], finals[1], settings["background"])
    assert f["ink_iou"] >= BOUND[brush], f
    # and the bound can fail: a blank raster against the drawn libmypaint images misses it
    blank = np.ones_like(finals[1])
    assert fidelity(blank, finals[1], settings["background"])["ink_iou"] < BOUND[brush]
