"""Plot training curves from ``metrics.jsonl`` files against wall-clock seconds.

    python scripts/plot_training.py OUT.png LABEL=RUN_DIR[:OFFSET_SECONDS] ... [--keys K1,K2,...]

One panel per key (default ``mse``: batch MSE), stacked; any numeric key of the log works,
e.g. a GAN's health: ``--keys d_real,d_fake,gp,reward_raw_mean,reward_norm_std,entropy``, or
the scene run's validation: ``--keys valid_cell_acc,valid_object_acc --window 1``.
Each run's values are smoothed over ``--window`` logged rows (default 25); the y axis spans
the values (and 0 for ``mse``); OFFSET shifts a run right (RL after
pretraining starts when pretraining ends). Rows without a key are skipped for that key.
Pillow only: no plotting library needed.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
W, H, M = 720, 300, 60


def series(run: Path, offset: float, key: str = "mse", window: int = 25) -> list[tuple[float, float]]:
    """(seconds + offset, mean of ``key`` over the last ``window`` rows that have it)."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    points, recent = [], []
    for r in rows:
        value = r.get(key)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        recent = (recent + [value])[-window:]
        points.append((r["seconds"] + offset, sum(recent) / len(recent)))
    return points


def panel(runs: list[tuple[str, list]], key: str, window: int = 25) -> Image.Image:
    """One key's curves, every run in its colour."""
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    d.rectangle([M, M // 2, W - M // 2, H - M], outline="black")
    xs = [x for _, s in runs for x, _ in s]
    ys = [y for _, s in runs for _, y in s]
    if not ys:
        d.text((M + 10, H // 2), f"no {key!r} in these logs", fill="black")
        return img
    x1 = max(xs) or 1.0
    y0, y1 = (min(0.0, min(ys)), max(0.0, max(ys))) if key == "mse" else (min(ys), max(ys))
    pad = 0.05 * ((y1 - y0) or 1.0)
    y0, y1 = (y0 - pad if y0 < 0 else y0), y1 + pad

    def px(x, y):
        return M + (W - 1.5 * M) * x / x1, (H - M) - (H - 1.5 * M) * (y - y0) / (y1 - y0)

    for k in range(6):
        y = y0 + (y1 - y0) * k / 5
        d.text((4, px(0, y)[1] - 6), f"{y:.3g}", fill="black")
        x = x1 * k / 5
        d.text((px(x, 0)[0] - 10, H - M + 6), f"{x:.3g}", fill="black")
    d.text((W // 2 - 60, H - 24), "wall-clock seconds", fill="black")
    d.text((M, 8), f"{key} (smoothed over {window} rows)" if window > 1 else key, fill="black")
    for n, (label, s) in enumerate(runs):
        colour = COLOURS[n % len(COLOURS)]
        if len(s) > 1:
            d.line([px(x, y) for x, y in s], fill=colour, width=2)
        elif s:
            x, y = px(*s[0])
            d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        d.text((W - 260, M // 2 + 10 + 16 * n), f"-- {label}", fill=colour)
    return img


def main(argv: list[str]) -> int:
    keys, window = ["mse"], 25
    if "--keys" in argv:
        i = argv.index("--keys")
        keys = [k for k in argv[i + 1].split(",") if k]
        argv = argv[:i] + argv[i + 2:]
    if "--window" in argv:
        i = argv.index("--window")
        window = max(1, int(argv[i + 1]))
        argv = argv[:i] + argv[i + 2:]
    out, specs = Path(argv[0]), argv[1:]
    runs = []
    for spec in specs:
        label, _, rest = spec.partition("=")
        path, _, offset = rest.partition(":")
        runs.append((label, Path(path), float(offset or 0)))
    panels = [panel([(label, series(path, offset, key, window)) for label, path, offset in runs],
                    key, window) for key in keys]
    img = Image.new("RGB", (W, H * len(panels)), "white")
    for n, p in enumerate(panels):
        img.paste(p, (0, H * n))
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
