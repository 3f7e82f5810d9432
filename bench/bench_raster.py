"""Raster interpreter: speed (strokes/s) beside libmypaint, and fidelity to libmypaint, in one run.

Speed: batches of uniformly random on-grid strokes (SPIRAL's random agent) at 64², painted
with ``torch.no_grad()`` on 2 threads (and 1), canvases reset every 20 strokes as episodes are;
libmypaint's rate for the same kind of strokes, in this process, is measured beside it.
Fidelity per brush: mean ink IoU (ink: a channel differs from the background by > 0.1), its
10th percentile and the MSE against libmypaint on a fixed set of 200 single strokes and of 50
``pen``-style and 50 ``uniform``-style 10-statement programs. Targets: >= 50,000 strokes/s
batched; mean ink IoU >= 0.9 (pen) and >= 0.8 (dry_brush).
Writes bench/results/bench_raster.json.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from common import write_result

from spiral_dsl.interpreters.raster import RasterPainter
from spiral_dsl.interpreters.raster_brush import brush_model, calibration_table
from spiral_dsl.interpreters.raster_fidelity import (
    fidelity,
    random_programs,
    random_strokes,
    raster_images,
    reference_images,
)
from spiral_dsl.settings import DEFAULTS

BRUSHES = ("classic/pen", "classic/dry_brush")


def stroke_pool(batch: int, steps: int, seed: int) -> list[tuple]:
    """``steps`` batches of step() arguments: uniform on-grid strokes (grid 32, canvas 64)."""
    g = torch.Generator().manual_seed(seed)
    sizes = torch.tensor([1.0, 2, 4, 8, 12, 24])

    def point():
        return torch.randint(0, 33, (batch, 2), generator=g).float() * 2

    return [(torch.ones(batch, dtype=torch.bool), point(), point(),
             torch.randint(1, 11, (batch,), generator=g) / 10,
             sizes[torch.randint(0, 6, (batch,), generator=g)],
             torch.randint(0, 20, (batch, 3), generator=g) / 19) for _ in range(steps)]


def raster_rate(brush: str, batch: int, threads: int, seconds: float) -> tuple[float, float]:
    """(strokes/s, CPU seconds per wall second: about ``threads`` when no other process competed)."""
    torch.set_num_threads(threads)
    painter = RasterPainter(batch, {**DEFAULTS["paint"], "brush": brush})
    pool = stroke_pool(batch, 20, 0)
    with torch.no_grad():
        for args in pool[:3]:                      # warm up
            painter.paint(*args)
        painter.reset()
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < seconds or n < 3:
            painter.paint(*pool[n % 20])
            n += 1
            if n % 20 == 0:
                painter.reset()
        wall = time.perf_counter() - t0
        return n * batch / wall, (time.process_time() - c0) / wall


def grad_rate(brush: str, batch: int, threads: int, seconds: float) -> float:
    """Forward and backward of one step with respect to every continuous argument."""
    torch.set_num_threads(threads)
    settings = {**DEFAULTS["paint"], "brush": brush}
    pool = stroke_pool(batch, 4, 1)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 2:
        painter = RasterPainter(batch, settings)
        is_stroke, *cont = pool[n % 4]
        cont = [c.clone().requires_grad_(True) for c in cont]
        painter.paint(~is_stroke, cont[0].detach(), cont[0].detach(), cont[2].detach(), cont[3].detach(),
                     cont[4].detach())
        painter.paint(is_stroke, *cont).mean().backward()
        n += 1
    return n * batch / (time.perf_counter() - t0)


def mypaint_rate(brush: str, seconds: float) -> float:
    """libmypaint strokes/s on 20-stroke episodes of the same kind of strokes (one core)."""
    settings = {**DEFAULTS["paint"], "brush": brush}
    episodes = [[s for pair in random_strokes(10, seed, settings) for s in pair] for seed in range(4)]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 2:
        reference_images([episodes[n % 4]], settings)
        n += 1
    return n * 10 / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="timing per measurement")
    ap.add_argument("--quick", action="store_true", help="fewer fidelity samples (a smoke run)")
    args = ap.parse_args()
    n_strokes, n_programs = (40, 10) if args.quick else (200, 50)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    speed, fid = [], {}
    for brush in BRUSHES:
        settings = {**DEFAULTS["paint"], "brush": brush}
        lib = mypaint_rate(brush, args.seconds)
        for threads in (2, 1):
            for batch in (1, 64, 256, 1024):
                r, cpu = raster_rate(brush, batch, threads, args.seconds)
                speed.append({"brush": brush, "threads": threads, "batch": batch, "strokes_per_s": round(r),
                              "x_libmypaint_1core": round(r / lib, 1), "cpu_per_wall": round(cpu, 2)})
                print(speed[-1], flush=True)
        speed.append({"brush": brush, "threads": 2, "batch": 64, "backward": True,
                      "strokes_per_s": round(grad_rate(brush, 64, 2, args.seconds))})
        speed.append({"brush": brush, "libmypaint_strokes_per_s_1core": round(lib)})
        sets = {"strokes": random_strokes(n_strokes, 7, settings),
                "programs_pen": random_programs(n_programs, 8, settings, 10, "pen"),
                "programs_uniform": random_programs(n_programs, 9, settings, 10, "uniform")}
        fid[brush] = {name: fidelity(raster_images(p, settings), reference_images(p, settings),
                                     settings["background"]) for name, p in sets.items()}
        fid[brush]["calibrated"] = brush in calibration_table()
        fid[brush]["render_constants"] = vars(brush_model(brush).render)
        print(brush, fid[brush], flush=True)
    best = max(r["strokes_per_s"] for r in speed if r.get("threads") == 2 and "backward" not in r)
    write_result("bench_raster", {
        "benchmark": "raster", "canvas": 64, "torch": torch.__version__,
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": load_at_start,
                    "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
                    "processor": platform.processor() or platform.machine()},
        "speed": speed, "best_strokes_per_s_2_threads": best, "target_strokes_per_s": 50000,
        "fidelity": fid, "target_ink_iou": {"classic/pen": 0.9, "classic/dry_brush": 0.8},
    })


if __name__ == "__main__":
    main()
