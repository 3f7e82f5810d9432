"""Sample grids of a training run: what the policy paints, as the reward saw it.

With ``grid_every = N`` (:class:`synth.config.RunConfig`) every N-th RL update writes the first
:data:`COUNT` final canvases of its batch (raster renders, uint8, exactly what the reward
scored) to ``<out_dir>/grids/update_NNNNNN.png``, four to a row, each beside its target when
the policy is conditional; that update's metrics line gets ``"grid": "<path>"``. Watching a
GAN's samples change is the first check of its health (issue 16); the file costs no render.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spiral_dsl.io import save_image

__all__ = ["COUNT", "episode_grid", "write_grid"]

COUNT = 16
"""Episodes per grid (fewer when the batch is smaller)."""
_COLUMNS = 4
_GAP = 2   # grey pixels between cells, so white canvases stay apart


def episode_grid(finals: np.ndarray, targets: np.ndarray | None = None, count: int = COUNT) -> np.ndarray:
    """A (rows·H', 4·W', 3) uint8 image of the first ``count`` of ``finals`` (B, 3, H, W) uint8,
    row-major, four to a row; with ``targets`` (same shape) each cell is target | canvas."""
    finals = np.asarray(finals)[:count]
    cells = finals if targets is None else np.concatenate([np.asarray(targets)[:len(finals)], finals], 3)
    n, _, h, w = cells.shape
    rows = -(-n // _COLUMNS)
    grid = np.full((rows * (h + _GAP) - _GAP, _COLUMNS * (w + _GAP) - _GAP, 3), 128, np.uint8)
    for k, cell in enumerate(cells):
        r, c = divmod(k, _COLUMNS)
        grid[r * (h + _GAP):r * (h + _GAP) + h, c * (w + _GAP):c * (w + _GAP) + w] = cell.transpose(1, 2, 0)
    return grid


def write_grid(out_dir: str | Path, update: int, finals, targets=None) -> Path:
    """:func:`episode_grid` written atomically to ``<out_dir>/grids/update_NNNNNN.png``;
    returns the path. ``finals`` and ``targets`` may be torch tensors (moved to the CPU)."""
    path = Path(out_dir) / "grids" / f"update_{update:06d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)

    def array(x):
        return None if x is None else (x.cpu().numpy() if hasattr(x, "cpu") else np.asarray(x))
    save_image(episode_grid(array(finals), array(targets)), path)
    return path
