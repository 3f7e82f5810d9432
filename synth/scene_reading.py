"""Reading scene renders without rendering: where objects project, which pixels are unexplained,
which pixels show an object, and what colour levels pixels show.

What these rely on, from :mod:`spiral_dsl.interpreters.mujoco_scene`: the camera is a fixed
pinhole; an object stands on its cell with the extent :func:`geom_params` gives; there is no
antialiasing, so every pixel of an object is its colour times one shading factor (about
0.8–1.13: faces towards the camera render brighter than their colour, clipped at 1).
"""
from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from spiral_dsl.actions import ActionSpec
from spiral_dsl.ast import SHAPES, SIZE_CLASSES
from spiral_dsl.errors import SplBackendError

from .mcmc import SceneRenderer

__all__ = ["SceneReader", "reader", "COLOURS", "SAME_HUE", "EPS"]

COLOURS = ("red", "green", "blue")
SAME_HUE = 0.995    # cosine of colour directions within one object (clipping moves it < 0.001)
EPS = 1e-6          # renders are exact: any larger per-pixel difference is real


@functools.lru_cache(maxsize=8)
def placement_boxes(grid: int, size: int) -> np.ndarray:
    """Projected boxes (cells × shapes × sizes × 4: x0, y0, x1, y1 in pixels) of every
    placement: the image of the upright box around the object (a cube turned 45° reaches r·√2).

    The camera is a pinhole, so a 3×4 projective matrix fitted (DLT) to a few exact
    :func:`project_point` projections reproduces it; that vectorises the 24k projections."""
    from spiral_dsl.interpreters.mujoco import project_point
    from spiral_dsl.interpreters.mujoco_scene import cell_centre, geom_params

    settings = {"canvas": size, "grid": grid, "objects": 1}
    fit = np.array([(x, y, z) for x in (-0.9, 0.0, 0.7) for y in (-0.8, 0.1, 0.9)
                    for z in (0.0, 0.3)])
    pix = np.array([project_point(settings, p, size) for p in fit])
    rows = []
    for (x, y, z), (u, v) in zip(fit, pix):
        rows.append([x, y, z, 1, 0, 0, 0, 0, -u * x, -u * y, -u * z, -u])
        rows.append([0, 0, 0, 0, x, y, z, 1, -v * x, -v * y, -v * z, -v])
    proj = np.linalg.svd(np.asarray(rows))[2][-1].reshape(3, 4)

    def project(points: np.ndarray) -> np.ndarray:
        h = points @ proj[:, :3].T + proj[:, 3]
        return h[..., :2] / h[..., 2:]

    if not np.allclose(project(fit), pix, atol=1e-6):
        raise SplBackendError("the scene camera is not a pinhole: a projective fit misses "
                              f"by {np.abs(project(fit) - pix).max():.3g} px")
    cells = np.array([cell_centre(grid, c % grid, c // grid) for c in range(grid * grid)])
    boxes = np.zeros((len(cells), len(SHAPES), len(SIZE_CLASSES), 4))
    for s, shape in enumerate(SHAPES):
        for z, size_class in enumerate(SIZE_CLASSES):
            kind, params, half = geom_params(shape, size_class)
            w = params[0] * (np.sqrt(2) if kind == "box" else 1.0)     # horizontal half width
            corners = np.array([(dx * w, dy * w, dz) for dx in (-1, 1) for dy in (-1, 1)
                                for dz in (0.0, 2 * half)])
            pts = np.concatenate([cells[:, None, :] + corners[None, :, :2],
                                  np.broadcast_to(corners[None, :, 2:], (len(cells), 8, 1))], -1)
            uv = project(pts)
            boxes[:, s, z] = np.concatenate([uv.min(1), uv.max(1)], -1)
    return boxes


class SceneReader:
    """Image reading for one scene spec at one output size (see the module docstring).

    ``empty``: the render of the empty table, a constant of the model (rendered once here, by
    a renderer of its own: it is not a search step of any caller)."""

    def __init__(self, spec: ActionSpec, size: int):
        self.grid = int(spec.settings["grid"])
        self.size = int(size)
        self.levels = spec.slots["red"].n
        self.boxes = placement_boxes(self.grid, self.size)
        self.empty = SceneRenderer(spec, self.size)([])

    def foreground(self, target: np.ndarray) -> np.ndarray:
        """Pixels where ``target`` shows an object (it differs from the empty table)."""
        return np.abs(target - self.empty).sum(-1) > EPS

    def box(self, obj: Mapping[str, int], pad: int = 1) -> tuple[slice, slice]:
        """Rows and columns of ``obj``'s projected box, ``pad`` pixels wider, in the image."""
        x0, y0, x1, y1 = self.boxes[obj["cell"], obj["shape"], obj["size"]]
        n = self.size
        return (slice(max(int(np.floor(y0)) - pad, 0), min(int(np.ceil(y1)) + pad, n)),
                slice(max(int(np.floor(x0)) - pad, 0), min(int(np.ceil(x1)) + pad, n)))

    def colour_of(self, image: np.ndarray, mask: np.ndarray) -> dict[str, int] | None:
        """Colour levels read from ``image`` under ``mask`` (the median pixel rounds to the
        level, shading being within 0.8–1.13); None for an empty mask."""
        if not mask.any():
            return None
        med = np.median(image[mask], axis=0)
        lv = np.clip(np.rint(med * (self.levels - 1)), 0, self.levels - 1).astype(int)
        return dict(zip(COLOURS, (int(v) for v in lv)))

    def visible(self, image: np.ndarray, obj: Mapping[str, int]) -> np.ndarray:
        """Pixels of ``obj``'s box where ``image`` looks like ``obj``: ``min(s × colour, 1)``
        within 0.03 for one shading factor ``s`` in [0.5, 1.3], estimated from the channels
        that are not clipped at 1."""
        out = np.zeros(image.shape[:2], bool)
        ys, xs = self.box(obj, pad=0)
        colour = np.array([obj[c] for c in COLOURS], float) / (self.levels - 1)
        pix = image[ys, xs].astype(float)
        if not colour.any():
            out[ys, xs] = pix.max(-1) < 0.03
            return out
        lit = colour > 0
        ratio = pix[..., lit] / colour[lit]
        free = pix[..., lit] < 0.995                   # channels not clipped at 1
        shade = np.where(free.any(-1), (ratio * free).sum(-1) / np.maximum(free.sum(-1), 1),
                         ratio.min(-1))
        model = np.minimum(shade[..., None] * colour, 1.0)
        fit = np.abs(pix - model).max(-1) < 0.03
        out[ys, xs] = fit & (shade >= 0.5) & (shade <= 1.3)
        return out

    def regions(self, target: np.ndarray, residual: np.ndarray,
                foreground: np.ndarray) -> list[np.ndarray]:
        """Unexplained regions (boolean masks), largest ``residual`` first: 8-connected
        ``foreground`` pixels with a residual, split where the target's hue changes.

        Neighbours of one object share a unit colour direction (cosine >= :data:`SAME_HUE`) and
        the set of channels that are 0; near-black pixels form one class."""
        mask = foreground & (residual > EPS)
        pix = target.astype(float)
        norm = np.linalg.norm(pix, axis=-1)
        unit = pix / np.maximum(norm, 1e-9)[..., None]
        dark = norm < 0.05
        zero = pix < 0.02
        seen = np.zeros_like(mask)
        h, w = mask.shape
        out = []
        for y, x in zip(*np.nonzero(mask)):
            if seen[y, x]:
                continue
            stack, comp = [(y, x)], np.zeros_like(mask)
            seen[y, x] = True
            while stack:
                cy, cx = stack.pop()
                comp[cy, cx] = True
                for ny in range(max(cy - 1, 0), min(cy + 2, h)):
                    for nx in range(max(cx - 1, 0), min(cx + 2, w)):
                        if not mask[ny, nx] or seen[ny, nx] or dark[ny, nx] != dark[cy, cx]:
                            continue
                        if dark[cy, cx] or ((zero[ny, nx] == zero[cy, cx]).all()
                                            and unit[ny, nx] @ unit[cy, cx] >= SAME_HUE):
                            seen[ny, nx] = True
                            stack.append((ny, nx))
            out.append(comp)
        return sorted(out, key=lambda c: -float(residual[c].sum()))

    def placements(self, region: np.ndarray, free: set[int], k: int, shape: int | None = None,
                   size: int | None = None, edges: int = 4) -> list[tuple[int, int, int]]:
        """The ``k`` (cell, shape, size) placements in ``free`` cells (of one ``shape`` and
        ``size`` when given) whose projected boxes best fit ``region``'s box: L1 over the four
        edges, or with ``edges=3`` all but the bottom one, which an object in front may hide.
        Ties are broken by index, so the order is deterministic."""
        ys, xs = np.nonzero(region)
        rbox = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)
        cost = np.abs(self.boxes - rbox)[..., :edges].sum(-1)       # cells × shapes × sizes
        allowed = np.zeros(cost.shape, bool)
        allowed[sorted(free)] = True
        if shape is not None:
            allowed[:, np.arange(len(SHAPES)) != shape] = False
            allowed[:, :, np.arange(len(SIZE_CLASSES)) != size] = False
        cost = np.where(allowed, cost, np.inf)
        order = np.argsort(cost, axis=None, kind="stable")[:k]
        return [tuple(int(v) for v in np.unravel_index(i, cost.shape)) for i in order
                if np.isfinite(cost.flat[i])]


_READERS: dict[tuple, SceneReader] = {}


def reader(spec: ActionSpec, size: int) -> SceneReader:
    """The shared :class:`SceneReader` of ``spec`` at ``size`` pixels (one per spec and size)."""
    key = (repr(spec), tuple(sorted(spec.settings.items())), int(size))
    if key not in _READERS:
        _READERS[key] = SceneReader(spec, int(size))
    return _READERS[key]
