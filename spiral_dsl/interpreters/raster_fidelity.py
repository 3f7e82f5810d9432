"""How close the raster is to libmypaint: the measures, and the stroke sets they are taken on.

The raster's render constants are fitted per brush by ``scripts/calibrate_raster.py`` (not part
of the library) and read from ``raster_calibration.json`` by :mod:`.raster_brush`; what stays
here is shared by that script, the tests and the bench: random on-grid strokes and programs,
renders of them by a reference backend (libmypaint) and by the batched raster, and the figures
that compare two image stacks (ink IoU, its 10th percentile, MSE).
"""
from __future__ import annotations

import random

import numpy as np
import torch

from ..actions import ActionSpec
from ..values import values_of_statements
from .raster import RasterPainter
from .raster_brush import BrushModel

__all__ = ["INK_THRESHOLD", "random_strokes", "random_programs", "reference_images",
           "raster_images", "ink_iou", "fidelity"]

INK_THRESHOLD = 0.1  # a pixel is inked when a channel differs from the background by more


def random_strokes(n: int, seed: int, settings: dict) -> list[list]:
    """``n`` programs (lists of core statements): a random ``move`` then a random ``stroke``,
    each slot uniform over the action grid of ``settings``."""
    spec = ActionSpec.for_domain("paint", settings)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        move = spec.decode({"flag": 0, "end": rng.randrange(spec.slots["end"].n)})
        stroke = spec.decode({s: rng.randrange(k) for s, k in spec.sizes.items()} | {"flag": 1})
        out.append([move, stroke])
    return out


def random_programs(n: int, seed: int, settings: dict, length: int = 10,
                    style: str = "pen") -> list[list]:
    """``n`` random programs of ``length`` core statements (``spiral_dsl.generate``)."""
    from ..generate import random_program
    spec = ActionSpec.for_domain("paint", settings)
    rng = random.Random(seed)
    return [list(random_program(spec, length, rng, style)) for _ in range(n)]


def reference_images(programs, settings: dict, backend: str = "mypaint",
                     size: int | None = None) -> np.ndarray:
    """(N, H, W, 3) renders of statement lists by a backend of the interpreter protocol."""
    from . import get_interpreter
    interp = get_interpreter(backend, "paint")
    images = []
    for statements in programs:
        canvas = interp.start("paint", settings, size)
        try:
            for st in statements:
                canvas.execute(st)
            images.append(canvas.image())
        finally:
            canvas.close()
    return np.stack(images)


def raster_images(programs, settings: dict, model: BrushModel | None = None,
                  size: int | None = None) -> np.ndarray:
    """(N, H, W, 3) raster renders of equally long statement lists, painted as one batch
    (through the batch contract; ``model`` replaces the brush's calibrated one)."""
    n, length = len(programs), len(programs[0])
    painter = RasterPainter(n, settings, size, model=model)
    with torch.no_grad():
        for t in range(length):
            painter.step(values_of_statements("paint", [p[t] for p in programs]))
        images = painter.image().permute(0, 2, 3, 1).clamp(0, 1).numpy()
    painter.close()
    return images


def ink_iou(a: np.ndarray, b: np.ndarray, background) -> np.ndarray:
    """Per-image IoU of the ink masks of (N, H, W, 3) images (1 where neither has ink)."""
    bg = np.asarray(list(background), np.float32)
    ia = np.abs(a - bg).max(-1) > INK_THRESHOLD
    ib = np.abs(b - bg).max(-1) > INK_THRESHOLD
    union = (ia | ib).sum((1, 2))
    return np.where(union > 0, (ia & ib).sum((1, 2)) / np.maximum(union, 1), 1.0)


def fidelity(ours: np.ndarray, ref: np.ndarray, background) -> dict:
    """Mean ink IoU, mean MSE and the 10th-percentile IoU of two image stacks."""
    iou = ink_iou(ours, ref, background)
    return {"ink_iou": float(iou.mean()), "ink_iou_p10": float(np.percentile(iou, 10)),
            "mse": float(np.mean((ours - ref) ** 2)), "n": int(len(iou))}
