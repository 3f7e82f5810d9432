"""Fit the raster render constants of a brush to libmypaint, and measure the raster's error.

    python -m spiral_dsl.interpreters.raster_calibration [--brush classic/pen ...] [--strokes 256]

For each brush: render random single strokes (a ``move`` then a ``stroke``, uniform over the
action grid) with real libmypaint and with the raster, at 64 and 32 pixels; choose the
:class:`RenderConstants` (both transfers tried, their constants in :data:`FIT_PARAMS` by
Nelder-Mead) that minimise ``(1 - mean ink IoU) + 20 · MSE`` averaged over both sizes; write
the brush's model (its ``.myb`` dynamics and the constants) to ``raster_calibration.json``
with the fit's figures on held-out strokes and programs. The measuring helpers here are shared
by the tests and the bench.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time

import numpy as np
import torch

from ..actions import ActionSpec, values_of_statements
from ..program import write_atomic
from ..settings import DEFAULTS
from .raster import RasterPainter
from .raster_brush import CALIBRATION_FILE, BrushModel, RenderConstants, calibration_table, from_myb

__all__ = ["INK_THRESHOLD", "random_strokes", "random_programs", "reference_images",
           "raster_images", "ink_iou", "fidelity", "fit", "main"]

INK_THRESHOLD = 0.1  # a pixel is inked when a channel differs from the background by more
#: the constants fitted per transfer (``optical`` keeps gamma = 1: exact optical depth, and fast)
FIT_PARAMS = {"edge": ("sigma", "log_gain", "gamma0", "gamma1", "radius_scale", "blur"),
              "optical": ("sigma", "log_gain", "radius_scale", "blur")}
STEPS = {"sigma": 0.05, "log_gain": 0.5, "gamma0": 0.3, "gamma1": 0.1, "radius_scale": 0.05, "blur": 0.03}
_LOWER = {"sigma": 0.05, "gamma0": 0.05, "gamma1": 0.0, "radius_scale": 0.5, "blur": 0.0}


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
    """(N, H, W, 3) raster renders of equally long statement lists, painted as one batch."""
    n, length = len(programs), len(programs[0])
    painter = RasterPainter(n, settings, size, model=model)
    with torch.no_grad():
        for t in range(length):
            painter.step(values_of_statements("paint", [p[t] for p in programs]))
    return painter.image().permute(0, 2, 3, 1).clamp(0, 1).numpy()


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


def _loss(model, programs, refs: dict, settings) -> float:
    """``(1 - mean ink IoU) + 20 · MSE``, averaged over the render sizes in ``refs``."""
    total = 0.0
    for size, ref in refs.items():
        f = fidelity(raster_images(programs, settings, model, size), ref, settings["background"])
        total += (1 - f["ink_iou"]) + 20 * f["mse"]
    return total / len(refs)


def _nelder_mead(f, x0, step, iters: int):
    """Minimise ``f`` from ``x0`` (a plain Nelder-Mead; the loss is not differentiable)."""
    pts = [np.asarray(x0, float)] + [np.asarray(x0, float) + np.eye(len(x0))[i] * step[i] for i in range(len(x0))]
    vals = [f(p) for p in pts]
    for _ in range(iters):
        order = np.argsort(vals)
        pts, vals = [pts[i] for i in order], [vals[i] for i in order]
        centre = np.mean(pts[:-1], 0)
        refl = centre + (centre - pts[-1])
        fr = f(refl)
        if fr < vals[0]:
            exp = centre + 2 * (centre - pts[-1])
            fe = f(exp)
            pts[-1], vals[-1] = (exp, fe) if fe < fr else (refl, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = refl, fr
        else:
            con = centre + 0.5 * (pts[-1] - centre)
            fc = f(con)
            if fc < vals[-1]:
                pts[-1], vals[-1] = con, fc
            else:  # shrink towards the best
                pts = [pts[0]] + [pts[0] + 0.5 * (p - pts[0]) for p in pts[1:]]
                vals = [vals[0]] + [f(p) for p in pts[1:]]
    best = int(np.argmin(vals))
    return pts[best], vals[best]


START = {"edge": RenderConstants("edge", 0.25, 7.7, 1.0, 0.5, 1.0, 1.0 / 12),
         "optical": RenderConstants("optical", 0.5, 0.0, 1.0, 0.0, 1.0, 1.0 / 12)}


def _constants(transfer: str, x) -> RenderConstants:
    kw = {k: float(max(v, _LOWER.get(k, -np.inf))) for k, v in zip(FIT_PARAMS[transfer], x)}
    return dataclasses.replace(START[transfer], **kw)


def fit(brush: str, strokes: int = 256, iters: int = 200, seed: int = 0, sizes=(64, 32)) -> dict:
    """Fit one brush on strokes rendered at each of ``sizes`` pixels (half size too, so that thin
    strokes count); return its model and its figures on held-out strokes and programs at 64."""
    settings = {**DEFAULTS["paint"], "brush": brush}
    dynamics = from_myb(brush)
    train = random_strokes(strokes, seed, settings)
    ref = {size: reference_images(train, settings, size=size) for size in sizes}
    t0 = time.perf_counter()
    best = None
    for transfer, names in FIT_PARAMS.items():
        def f(x, transfer=transfer):
            model = dataclasses.replace(dynamics, render=_constants(transfer, x))
            return _loss(model, train, ref, settings)
        x, v = _nelder_mead(f, [getattr(START[transfer], k) for k in names], [STEPS[k] for k in names], iters)
        if best is None or v < best[2]:
            best = (transfer, x, v)
    transfer, x, loss = best
    model = dataclasses.replace(dynamics, render=_constants(transfer, x))
    held = random_strokes(200, seed + 1, settings)
    programs = random_programs(50, seed + 2, settings)
    figures = {name: fidelity(raster_images(p, settings, model), reference_images(p, settings),
                              settings["background"]) for name, p in (("strokes", held), ("programs", programs))}
    return {"model": model.to_json(), "train_loss": round(float(loss), 5), "train_strokes": strokes,
            "train_sizes": list(sizes), "heldout": figures, "fit_seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brush", action="append", default=None, help="brush to fit (repeatable)")
    ap.add_argument("--strokes", type=int, default=256, help="training strokes per brush")
    ap.add_argument("--iters", type=int, default=200, help="Nelder-Mead iterations per transfer")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)   # batches of 256 gain little from more, and lose much under load
    table = calibration_table()
    for brush in args.brush or ["classic/dry_brush", "classic/pen"]:
        table[brush] = fit(brush, args.strokes, args.iters)
        print(brush, json.dumps({k: v for k, v in table[brush].items() if k != "model"}), flush=True)
    write_atomic(CALIBRATION_FILE, json.dumps(table, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
