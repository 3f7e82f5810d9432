"""Plot MSE against seconds per image from ``bench/results/bench_budget.json``.

    python scripts/plot_budget.py [bench/results/bench_budget.json] [docs/img/budget_mnist.png]

One line per method: its mean MSE at each budget, placed at the budget's measured mean seconds
(log scale). Pillow only: no plotting library needed.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (140, 86, 75)]
W, H, M = 720, 420, 70


def main(argv: list[str]) -> int:
    src = Path(argv[0] if argv else "bench/results/bench_budget.json")
    out = Path(argv[1] if len(argv) > 1 else "docs/img/budget_mnist.png")
    result = json.loads(src.read_text())
    lines = {method: [(row["seconds_mean"], row["mse_mean"]) for row in rows.values()]
             for method, rows in result["rows"].items()}
    xs = [x for pts in lines.values() for x, _ in pts]
    ys = [y for pts in lines.values() for _, y in pts]
    lo, hi = math.log(min(xs) * 0.9), math.log(max(xs) * 1.1)
    top = max(ys) * 1.1

    def at(x: float, y: float) -> tuple[float, float]:
        return (M + (math.log(x) - lo) / (hi - lo) * (W - 2 * M),
                H - M - y / top * (H - 2 * M))

    image = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([M, M, W - M, H - M], outline=(0, 0, 0))
    for budget in (0.25, 0.5, 1, 2, 4):
        if lo <= math.log(budget) <= hi:
            x, _ = at(budget, 0)
            draw.line([x, H - M, x, H - M + 5], fill=(0, 0, 0))
            draw.text((x - 10, H - M + 8), f"{budget:g} s", fill=(0, 0, 0))
    for k in range(5):
        y = top * k / 4
        _, py = at(math.exp(lo), y)
        draw.line([M - 5, py, M, py], fill=(0, 0, 0))
        draw.text((8, py - 6), f"{y:.4f}", fill=(0, 0, 0))
    for i, (method, pts) in enumerate(lines.items()):
        colour = COLOURS[i % len(COLOURS)]
        points = [at(x, y) for x, y in pts]
        draw.line(points, fill=colour, width=2)
        for px, py in points:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
        draw.text((W - M - 150, M + 10 + 16 * i), f"-- {method}", fill=colour)
    draw.text((M, 20), f"mean MSE (libmypaint, before tidy) vs seconds per image: "
              f"{result['images']} images of {result.get('set', 'mnist-eval')}, one core each",
              fill=(0, 0, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
