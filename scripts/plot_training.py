"""Plot training curves (batch MSE, or any logged key, against wall-clock seconds) from
``metrics.jsonl`` files.

    python scripts/plot_training.py OUT.png LABEL=RUN_DIR[:OFFSET_SECONDS][@KEY] ...

KEY defaults to ``mse`` (the RL batch MSE, smoothed over 25 updates); any other key (e.g. the
scene run's ``valid_object_acc``) is drawn as logged. OFFSET shifts a run right (RL after
pretraining starts when pretraining ends). Pillow only: no plotting library needed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
W, H, M = 720, 420, 60


def series(run: Path, offset: float, key: str = "mse") -> list[tuple[float, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    points, window = [], []
    for r in rows:
        if key not in r:
            continue
        window = (window + [r[key]])[-(25 if key == "mse" else 1):]
        points.append((r["seconds"] + offset, sum(window) / len(window)))
    return points


def main(argv: list[str]) -> int:
    out, specs = Path(argv[0]), argv[1:]
    runs, keys = [], set()
    for spec in specs:
        label, _, rest = spec.partition("=")
        rest, _, key = rest.partition("@")
        path, _, offset = rest.partition(":")
        keys.add(key or "mse")
        runs.append((label, series(Path(path), float(offset or 0), key or "mse")))
    xs = [x for _, s in runs for x, _ in s]
    ys = [y for _, s in runs for _, y in s]
    x1, y0, y1 = max(xs), 0.0, max(ys) * 1.05
    if keys != {"mse"}:   # accuracies and the like: the range they span
        y0, y1 = min(ys) - 0.01 * (max(ys) - min(ys) + 1e-9), max(ys) + 0.01 * (max(ys) - min(ys) + 1e-9)
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    d.rectangle([M, M // 2, W - M // 2, H - M], outline="black")

    def px(x, y):
        return M + (W - 1.5 * M) * x / x1, (H - M) - (H - 1.5 * M) * (y - y0) / (y1 - y0)

    for k in range(6):
        y = y0 + (y1 - y0) * k / 5
        d.text((4, px(0, y)[1] - 6), f"{y:.3f}", fill="black")
        x = x1 * k / 5
        d.text((px(x, 0)[0] - 10, H - M + 6), f"{x:.0f}", fill="black")
    d.text((W // 2 - 60, H - 24), "wall-clock seconds", fill="black")
    d.text((M, 8), "batch MSE (raster, smoothed over 25 updates)" if keys == {"mse"}
           else ", ".join(sorted(keys)), fill="black")
    for n, (label, s) in enumerate(runs):
        colour = COLOURS[n % len(COLOURS)]
        d.line([px(x, y) for x, y in s], fill=colour, width=2)
        d.text((W - 260, M // 2 + 10 + 16 * n), f"-- {label}", fill=colour)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
