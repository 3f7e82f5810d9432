"""Fit the raster render constants of brushes to libmypaint; write them to a calibration file.

    python scripts/calibrate_raster.py --out calibration.json [--brush classic/pen ...]
    python scripts/calibrate_raster.py --update-package [--brush ...]   # the shipped table

For each brush: render random single strokes (a ``move`` then a ``stroke``, uniform over the
action grid) with real libmypaint and with the raster, at 64 and 32 pixels; choose the
:class:`RenderConstants` (both transfers tried, their constants in :data:`FIT_PARAMS` by
Nelder-Mead) that minimise ``(1 - mean ink IoU) + 20 · MSE`` averaged over both sizes; write
the calibration table (the package's, with the fitted brushes' models replaced: each brush's
``.myb`` dynamics and constants, with the fit's figures on held-out strokes and programs) to
``--out``, or over the package's own ``raster_calibration.json`` only with
``--update-package``. The measures come from the library
(:mod:`spiral_dsl.interpreters.raster_fidelity`); the optimiser lives here, not in it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from spiral_dsl.errors import SplError
from spiral_dsl.interpreters.mypaint import check_settings
from spiral_dsl.interpreters.raster_brush import (
    CALIBRATION_FILE,
    RenderConstants,
    calibration_table,
    from_myb,
)
from spiral_dsl.interpreters.raster_fidelity import (
    fidelity,
    random_programs,
    random_strokes,
    raster_images,
    reference_images,
)
from spiral_dsl.io import write_atomic
from spiral_dsl.settings import DEFAULTS

#: the constants fitted per transfer (``optical`` keeps gamma = 1: exact optical depth, and fast)
FIT_PARAMS = {"edge": ("sigma", "log_gain", "gamma0", "gamma1", "radius_scale", "blur"),
              "optical": ("sigma", "log_gain", "radius_scale", "blur")}
STEPS = {"sigma": 0.05, "log_gain": 0.5, "gamma0": 0.3, "gamma1": 0.1, "radius_scale": 0.05, "blur": 0.03}
_LOWER = {"sigma": 0.05, "gamma0": 0.05, "gamma1": 0.0, "radius_scale": 0.5, "blur": 0.0}


def fit_loss(model, programs, refs: dict, settings) -> float:
    """``(1 - mean ink IoU) + 20 · MSE``, averaged over the render sizes in ``refs``."""
    total = 0.0
    for size, ref in refs.items():
        f = fidelity(raster_images(programs, settings, model, size), ref, settings["background"])
        total += (1 - f["ink_iou"]) + 20 * f["mse"]
    return total / len(refs)


def nelder_mead(f, x0, step, iters: int):
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


def fit(brush: str, strokes: int = 256, iters: int = 200, seed: int = 0, sizes=(64, 32),
        heldout: tuple[int, int] = (200, 50)) -> dict:
    """Fit one brush on strokes rendered at each of ``sizes`` pixels (half size too, so that thin
    strokes count); return its model and its figures on ``heldout`` (strokes, programs) held-out
    strokes and programs at 64."""
    settings = {**DEFAULTS["paint"], "brush": brush}
    dynamics = from_myb(brush)
    train = random_strokes(strokes, seed, settings)
    ref = {size: reference_images(train, settings, size=size) for size in sizes}
    t0 = time.perf_counter()
    best = None
    for transfer, names in FIT_PARAMS.items():
        def f(x, transfer=transfer):
            model = dataclasses.replace(dynamics, render=_constants(transfer, x))
            return fit_loss(model, train, ref, settings)
        x, v = nelder_mead(f, [getattr(START[transfer], k) for k in names], [STEPS[k] for k in names], iters)
        if best is None or v < best[2]:
            best = (transfer, x, v)
    transfer, x, loss = best
    model = dataclasses.replace(dynamics, render=_constants(transfer, x))
    held = random_strokes(heldout[0], seed + 1, settings)
    programs = random_programs(heldout[1], seed + 2, settings)
    figures = {name: fidelity(raster_images(p, settings, model), reference_images(p, settings),
                              settings["background"]) for name, p in (("strokes", held), ("programs", programs))}
    return {"model": model.to_json(), "train_loss": round(float(loss), 5), "train_strokes": strokes,
            "train_sizes": list(sizes), "heldout": figures, "fit_seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="write the calibration table to this file")
    where.add_argument("--update-package", action="store_true",
                       help=f"write over the package's own table ({CALIBRATION_FILE.name})")
    ap.add_argument("--brush", action="append", default=None, help="brush to fit (repeatable)")
    ap.add_argument("--strokes", type=int, default=256, help="training strokes per brush")
    ap.add_argument("--iters", type=int, default=200, help="Nelder-Mead iterations per transfer")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 32], help="render sizes fitted")
    ap.add_argument("--heldout", type=int, nargs=2, default=[200, 50], metavar=("STROKES", "PROGRAMS"),
                    help="held-out strokes and programs the figures are measured on")
    args = ap.parse_args(argv)
    for name in ("strokes", "iters"):
        if getattr(args, name) < 1:
            ap.error(f"--{name}={getattr(args, name)} must be >= 1")
    if min(args.heldout) < 1:
        ap.error(f"--heldout={args.heldout} must be >= 1 each")
    brushes = args.brush or ["classic/dry_brush", "classic/pen"]
    try:   # every brush and size checked before minutes of fitting, not after the first brush
        for brush in brushes:
            from_myb(brush)
        for size in args.sizes:
            check_settings(DEFAULTS["paint"], size)
    except SplError as e:
        ap.error(str(e))
    torch.set_num_threads(1)   # batches of 256 gain little from more, and lose much under load
    out = CALIBRATION_FILE if args.update_package else args.out
    table = calibration_table()
    for brush in brushes:
        table[brush] = fit(brush, args.strokes, args.iters, sizes=tuple(args.sizes), heldout=tuple(args.heldout))
        print(brush, json.dumps({k: v for k, v in table[brush].items() if k != "model"}), flush=True)
    write_atomic(out, json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
