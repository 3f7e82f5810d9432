"""Fit the raster stroke model of each brush to libmypaint, and measure the fit.

    python -m spiral_dsl.interpreters.raster_calibration [--brush classic/pen ...] [--strokes 256]

For each brush: render random single strokes (a ``move`` then a ``stroke``, random on-grid
points, pressures, sizes and colours) with real libmypaint; fit the :class:`BrushModel`
constants by gradient descent on the mean squared error of the differentiable raster
renders; write them to ``raster_calibration.json`` beside this file with the fit's figures
(ink IoU and MSE on held-out strokes).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from types import SimpleNamespace

import numpy as np
import torch

from ..actions import ActionSpec
from ..ast import Move, Stroke
from ..program import write_atomic
from ..settings import DEFAULTS
from .raster import CALIBRATION_FILE, BrushModel, RasterPainter

__all__ = ["random_strokes", "reference_images", "raster_images", "fit", "ink_iou", "main"]

INK_THRESHOLD = 0.1  # a pixel is inked when it differs from the background by more than this


def random_strokes(n: int, seed: int, settings: dict) -> list[tuple[Move, Stroke]]:
    """``n`` random (move, stroke) pairs on the action grid of ``settings``."""
    spec = ActionSpec.for_domain("paint", settings)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        move = spec.decode({"flag": 0, "end": rng.randrange(spec.slots["end"].n)})
        stroke = spec.decode({s: rng.randrange(k) for s, k in spec.sizes.items()} | {"flag": 1})
        out.append((move, stroke))
    return out


def reference_images(pairs, settings: dict, backend: str = "mypaint") -> np.ndarray:
    """(N, H, W, 3) renders of each pair by a backend of the interpreter protocol."""
    from . import get_interpreter
    interp = get_interpreter(backend, "paint")
    images = []
    for move, stroke in pairs:
        canvas = interp.start("paint", settings)
        canvas.execute(move)
        canvas.execute(stroke)
        images.append(canvas.image())
        canvas.close()
    return np.stack(images)


def _params(pairs):
    to = torch.tensor([[s.to.x, s.to.y] for _, s in pairs])
    via = torch.tensor([[s.via.x, s.via.y] for _, s in pairs])
    start = torch.tensor([[m.to.x, m.to.y] for m, _ in pairs])
    pressure = torch.tensor([s.pressure for _, s in pairs])
    size = torch.tensor([s.size for _, s in pairs])
    color = torch.tensor([list(s.color) for _, s in pairs])
    return start, via, to, pressure, size, color


def raster_images(pairs, settings: dict, model) -> torch.Tensor:
    """(N, 3, H, W) raster renders of (move, stroke) pairs under ``model`` (may hold tensors)."""
    start, via, to, pressure, size, color = _params(pairs)
    painter = RasterPainter(len(pairs), settings, model=model)
    n = len(pairs)
    painter.step(torch.zeros(n, dtype=torch.bool), start, start, pressure, size, color)
    return painter.step(torch.ones(n, dtype=torch.bool), to, via, pressure, size, color)


def ink_iou(a: np.ndarray, b: np.ndarray, background) -> np.ndarray:
    """Per-image IoU of the ink masks of (N, H, W, 3) images."""
    bg = np.asarray(list(background), np.float32)
    ia = np.abs(a - bg).max(-1) > INK_THRESHOLD
    ib = np.abs(b - bg).max(-1) > INK_THRESHOLD
    union = (ia | ib).sum((1, 2))
    return np.where(union > 0, (ia & ib).sum((1, 2)) / np.maximum(union, 1), 1.0)


def fit(brush: str, strokes: int = 256, steps: int = 300, seed: int = 0) -> dict:
    """Fit one brush; return its model and held-out figures."""
    torch.set_num_threads(2)
    settings = {**DEFAULTS["paint"], "brush": brush}
    pairs = random_strokes(strokes, seed, settings)
    held = random_strokes(max(64, strokes // 4), seed + 1, settings)
    ref = torch.from_numpy(reference_images(pairs, settings)).permute(0, 3, 1, 2)
    init = BrushModel()
    raw = {f.name: torch.tensor(float(getattr(init, f.name)), requires_grad=True)
           for f in dataclasses.fields(BrushModel)}
    opt = torch.optim.Adam(raw.values(), lr=0.03)
    t0 = time.perf_counter()
    for _ in range(steps):
        model = SimpleNamespace(**{k: v.abs() if k.startswith("edge") or k == "radius_scale" else v
                                   for k, v in raw.items()})
        loss = (raster_images(pairs, settings, model) - ref).abs().mean()  # L1: sharper edges than L2
        opt.zero_grad()
        loss.backward()
        opt.step()
    fitted = BrushModel(**{k: float(v.detach().abs() if k.startswith("edge") or k == "radius_scale"
                                    else v.detach()) for k, v in raw.items()})
    with torch.no_grad():
        test_ref = reference_images(held, settings)
        test = raster_images(held, settings, fitted).permute(0, 2, 3, 1).numpy()
    iou = ink_iou(test, test_ref, settings["background"])
    return {"model": dataclasses.asdict(fitted), "train_l1": float(loss.item()),
            "heldout_mse": float(np.mean((test - test_ref) ** 2)), "heldout_ink_iou": float(iou.mean()),
            "strokes": strokes, "steps": steps, "fit_seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brush", action="append", default=None)
    ap.add_argument("--strokes", type=int, default=256)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args(argv)
    table = json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.is_file() else {}
    for brush in args.brush or ["classic/dry_brush", "classic/pen"]:
        table[brush] = fit(brush, args.strokes, args.steps)
        print(brush, json.dumps(table[brush]))
    write_atomic(CALIBRATION_FILE, json.dumps(table, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
