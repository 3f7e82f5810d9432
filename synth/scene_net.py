"""The scene policy (``PolicyConfig.arch = "scene"``): every decision reads the pixels it is about.

SPIRAL's form is kept: one action per step is one ``place`` statement, chosen autoregressively
over its slots, conditioned on the target and on the canvas so far (the objects already
placed, rendered by MuJoCo). What changes is where each slot looks:

* **Cells from a map at the grid's resolution, aligned with the world.** The camera is fixed
  and known (:mod:`spiral_dsl.interpreters.mujoco_scene`), so each cell's centre projects to a
  known pixel. A *cell glimpse* — the target, the canvas and their difference sampled on a
  small window of pixels around that projection — is read for all grid² cells at once
  (``grid_sample``), turned into a C-channel vector per cell, and mixed by two 3×3
  convolutions *on the grid* (neighbouring cells are neighbours there, whatever the
  perspective). One logit per cell, plus a learned **stop** logit from the pooled map: the
  agent decides how many objects there are (no padding by repetition).
* **Shape, size and colour from the chosen cell's own pixels.** An *object glimpse* — a larger
  window around the chosen cell's projection, tall enough for the tallest object — plus the
  cell's map vector feed an MLP; shape is read first, size given the shape, and the three
  colour levels given both (embeddings of the chosen values are added, as in
  :class:`synth.nets.Policy`'s decoder).

Everything is a few small matrix products: about 15 M multiply-adds per step for the 16×16
grid at 64² (``configs/scenes.toml``), a CPU's budget. The projections are computed from the
camera in numpy (no MuJoCo import) and kept as buffers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplTypeError
from spiral_dsl.interpreters import mujoco_scene as S

from .config import PolicyConfig

__all__ = ["ScenePolicy", "SceneStep", "project_cells", "ATTRIBUTES", "CELL_WINDOW",
           "OBJECT_WINDOW"]

#: The slots read at the chosen cell, in decoding order.
ATTRIBUTES = ("shape", "size", "red", "green", "blue")
#: Cell glimpse: (columns, rows) of pixels around a cell's projection at CELL_HEIGHT; rows
#: reach further up, where taller objects are.
CELL_WINDOW = ((-2, 2), (-4, 2))
CELL_HEIGHT = 0.05
#: Object glimpse around the projection at OBJECT_HEIGHT (a large capsule is 0.32 m tall,
#: about 6 pixels at 64²).
OBJECT_WINDOW = ((-5, 5), (-7, 5))
OBJECT_HEIGHT = 0.1
INPUT_CHANNELS = 9           # target, canvas, target - canvas


def project_cells(grid: int, size: int, height: float) -> np.ndarray:
    """(grid², 2) pixel coordinates (x right, y down; pixel (r, c) covers [c, c+1) × [r, r+1))
    of the point ``height`` metres above each cell's centre, row-major (cell = row·grid + col),
    for the scene camera (the pinhole MuJoCo renders with; tested against
    :func:`spiral_dsl.interpreters.mujoco.project_cell`)."""
    pos, xyaxes = S.camera_pose(grid)
    right, up = np.array(xyaxes[:3]), np.array(xyaxes[3:])
    back = np.cross(right, up)
    f = (size / 2) / math.tan(math.radians(S.FOVY) / 2)
    out = np.empty((grid * grid, 2))
    for k in range(grid * grid):
        x, y = S.cell_centre(grid, k % grid, k // grid)
        v = np.array([x, y, height]) - np.array(pos)
        depth = -(v @ back)
        out[k] = (size / 2 + f * (v @ right) / depth, size / 2 - f * (v @ up) / depth)
    return out


def _window_points(centres: np.ndarray, window, size: int) -> torch.Tensor:
    """(P, K, 2) ``grid_sample`` coordinates (align_corners=False) of the K pixels of
    ``window`` around each of P centres, each snapped to the pixel it falls in."""
    (x0, x1), (y0, y1) = window
    dx, dy = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
    base = np.floor(centres)[:, None, :] + np.stack([dx.ravel(), dy.ravel()], 1)[None] + 0.5
    return torch.tensor(base * 2 / size - 1, dtype=torch.float32)


@dataclass
class SceneStep:
    """One step's decisions for a batch: ``stop`` (B,) bool; ``actions`` slot → (B,) long
    (rows with ``stop`` hold a placeholder object); ``log_prob`` (B,) of what was chosen."""
    stop: torch.Tensor
    actions: dict
    log_prob: torch.Tensor


class ScenePolicy(nn.Module):
    """The scene agent's network for a scene :class:`ActionSpec` (see the module docstring).

    ``config.channels`` is the width of the cell map, ``config.hidden`` of the attribute MLP,
    ``config.embed`` of the chosen-value embeddings."""

    def __init__(self, spec: ActionSpec, config: PolicyConfig | None = None):
        super().__init__()
        if spec.domain != "scene":
            raise SplTypeError(f"ScenePolicy draws the scene domain, not {spec.domain!r}")
        config = config or PolicyConfig(arch="scene")
        self.spec, self.config = spec, config
        self.size, self.grid = int(spec.settings["canvas"]), int(spec.settings["grid"])
        c, hidden = config.channels, config.hidden
        cells = project_cells(self.grid, self.size, CELL_HEIGHT)
        objects = project_cells(self.grid, self.size, OBJECT_HEIGHT)
        self.register_buffer("cell_points", _window_points(cells, CELL_WINDOW, self.size))
        self.register_buffer("object_points", _window_points(objects, OBJECT_WINDOW, self.size))
        cell_in = INPUT_CHANNELS * self.cell_points.shape[1]
        object_in = INPUT_CHANNELS * self.object_points.shape[1]
        self.cell_in = nn.Conv2d(cell_in, c, 1)
        self.cell_a = nn.Conv2d(c, c, 3, padding=1)
        self.cell_b = nn.Conv2d(c, c, 3, padding=1)
        self.cell_logit = nn.Conv2d(c, 1, 1)
        self.stop_logit = nn.Sequential(nn.Linear(2 * c, c), nn.ReLU(), nn.Linear(c, 1))
        self.object_mlp = nn.Sequential(nn.Linear(object_in + c, hidden), nn.ReLU(),
                                        nn.Linear(hidden, hidden))
        sizes = spec.sizes
        self.heads = nn.ModuleDict({s: nn.Linear(hidden, sizes[s]) for s in ATTRIBUTES})
        self.embed = nn.ModuleDict({s: nn.Embedding(sizes[s], hidden) for s in ("shape", "size")})

    # --- the two stages --------------------------------------------------------------------

    @staticmethod
    def inputs(target: torch.Tensor, canvas: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) target and canvas in [0, 1] → the (B, 9, H, W) network input."""
        return torch.cat([target * 2 - 1, canvas * 2 - 1, (target - canvas) * 2], 1)

    def cell_map(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x from :meth:`inputs` → the cell map (B, C, grid, grid) and the logits (B, grid² + 1)
        over cells (row-major) and, last, stop."""
        b, g = x.shape[0], self.grid
        pts = self.cell_points.reshape(1, 1, -1, 2).expand(b, -1, -1, -1)
        glimpse = F.grid_sample(x, pts, mode="nearest", align_corners=False)  # (B, 9, 1, g²K)
        glimpse = glimpse.view(b, INPUT_CHANNELS, g * g, -1).permute(0, 1, 3, 2)
        glimpse = glimpse.reshape(b, -1, g, g)                                 # (B, 9K, g, g)
        h = F.relu(self.cell_in(glimpse))
        h = F.relu(h + self.cell_b(F.relu(self.cell_a(h))))                    # (B, C, g, g)
        pooled = torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1)
        logits = torch.cat([self.cell_logit(h).flatten(1), self.stop_logit(pooled)], 1)
        return h, logits

    def object_features(self, x: torch.Tensor, fmap: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """The attribute MLP's vector (B, hidden) for one chosen cell per row (B,) long."""
        b = x.shape[0]
        pts = self.object_points[cell].unsqueeze(1)                            # (B, 1, K, 2)
        glimpse = F.grid_sample(x, pts, mode="nearest", align_corners=False).flatten(1)
        at_cell = fmap.flatten(2)[torch.arange(b, device=x.device), :, cell]   # (B, C)
        return F.relu(self.object_mlp(torch.cat([glimpse, at_cell], 1)))

    def attribute_logits(self, h: torch.Tensor, taken: dict | None = None, greedy: bool = True,
                         generator=None, temperature: float = 1.0) -> tuple[dict, dict]:
        """Decode shape → size → colour from ``h``; ``taken`` (slot → (B,)) teacher-forces,
        else each slot is its argmax (``greedy``) or sampled at ``temperature``.
        Returns (chosen indices, logits) per slot."""
        chosen, logits = {}, {}
        for s in ATTRIBUTES:
            z = h
            if s != "shape":
                z = z + self.embed["shape"](chosen["shape"])
            if s not in ("shape", "size"):
                z = z + self.embed["size"](chosen["size"])
            out = self.heads[s](F.relu(z) if s != "shape" else z)
            logits[s] = out
            if taken is not None:
                chosen[s] = taken[s]
            elif greedy:
                chosen[s] = out.argmax(1)
            else:
                chosen[s] = torch.multinomial(F.softmax(out / temperature, 1), 1,
                                              generator=generator).squeeze(1)
        return chosen, logits

    # --- acting -------------------------------------------------------------------------------

    @torch.no_grad()   # not inference_mode: what it returns may be scored with gradients
    def act(self, target: torch.Tensor, canvas: torch.Tensor, used: torch.Tensor,
            greedy: bool = True, generator=None, temperature: float = 1.0) -> SceneStep:
        """One step for a batch: target, canvas (B, 3, H, W) in [0, 1]; ``used`` (B, grid²)
        bool marks occupied cells (never chosen again: cells are distinct). Greedy takes every
        argmax; otherwise each slot is sampled at ``temperature`` with ``generator``."""
        x = self.inputs(target, canvas)
        fmap, logits = self.cell_map(x)
        logits = logits.masked_fill(F.pad(used, (0, 1)), float("-inf"))
        logp_all = F.log_softmax(logits / temperature, 1)
        if greedy:
            choice = logits.argmax(1)
        else:
            choice = torch.multinomial(logp_all.exp(), 1, generator=generator).squeeze(1)
        stop = choice == self.grid * self.grid
        cell = choice.clamp(max=self.grid * self.grid - 1)
        h = self.object_features(x, fmap, cell)
        chosen, att = self.attribute_logits(h, greedy=greedy, generator=generator,
                                            temperature=temperature)
        log_prob = logp_all.gather(1, choice[:, None]).squeeze(1)
        for s in ATTRIBUTES:
            lp = F.log_softmax(att[s] / temperature, 1).gather(1, chosen[s][:, None]).squeeze(1)
            log_prob = log_prob + torch.where(stop, torch.zeros_like(lp), lp)
        return SceneStep(stop, {"cell": cell, **chosen}, log_prob)

    def score(self, target: torch.Tensor, canvas: torch.Tensor, used: torch.Tensor,
              choice: torch.Tensor, attributes: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities (B,) of decisions already taken, with gradients, and the entropy
        (B,) of the cell/stop choice: ``choice`` (B,) is a cell or grid² for stop (whose
        attributes, a placeholder, are not scored); ``attributes`` slot → (B,) long; ``used``
        as in :meth:`act`. What :meth:`act` sampled, :meth:`score` scores the same."""
        g2 = self.grid * self.grid
        x = self.inputs(target, canvas)
        fmap, logits = self.cell_map(x)
        logp_all = F.log_softmax(logits.masked_fill(F.pad(used, (0, 1)), float("-inf")), 1)
        log_prob = logp_all.gather(1, choice[:, None]).squeeze(1)
        p = logp_all.exp()
        entropy = -(p * logp_all.clamp(min=torch.finfo(logp_all.dtype).min)).sum(1)
        stop = choice == g2
        h = self.object_features(x, fmap, choice.clamp(max=g2 - 1))
        _, att = self.attribute_logits(h, taken=attributes)
        for s in ATTRIBUTES:
            lp = F.log_softmax(att[s], 1).gather(1, attributes[s][:, None]).squeeze(1)
            log_prob = log_prob + torch.where(stop, torch.zeros_like(lp), lp)
        return log_prob, entropy

    # --- supervised loss ------------------------------------------------------------------------

    def loss(self, target: torch.Tensor, canvas: torch.Tensor, remaining: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Teacher-forced loss on (target, canvas) pairs; ``remaining`` (B, N, 6) long holds the
        objects of the target not yet on the canvas as (shape, cell, size, red, green, blue)
        rows, padded with -1.

        The scene is a set, so the cell loss is ``-log Σ_{c remaining} p(c)`` (any remaining
        object is a right next choice), or ``-log p(stop)`` when none remains; the attribute
        losses are cross-entropies at *every* remaining object's cell, each slot given the true
        earlier slots. Returns the mean loss and per-slot accuracies (argmax, at true cells)."""
        b, n = remaining.shape[:2]
        g2 = self.grid * self.grid
        x = self.inputs(target, canvas)
        fmap, logits = self.cell_map(x)
        logp = F.log_softmax(logits, 1)
        valid = remaining[:, :, 0] >= 0                                        # (B, N)
        good = torch.zeros(b, g2 + 1, dtype=torch.bool, device=x.device)
        rows = torch.arange(b, device=x.device)[:, None].expand(b, n)
        good[rows[valid], remaining[:, :, 1][valid]] = True
        good[:, g2] = ~valid.any(1)
        cell_loss = -torch.logsumexp(logp.masked_fill(~good, float("-inf")), 1).mean()
        metrics = {"cell_acc": good.gather(1, logits.argmax(1, keepdim=True)).float().mean().item()}
        total = cell_loss
        if valid.any():
            objs = remaining[valid]                                            # (M, 6)
            rows_m = rows[valid]
            h = self.object_features(x[rows_m], fmap[rows_m], objs[:, 1])
            taken = {s: objs[:, i] for i, s in ((0, "shape"), (2, "size"), (3, "red"),
                                                  (4, "green"), (5, "blue"))}
            _, att = self.attribute_logits(h, taken)
            exact = torch.ones(len(objs), dtype=torch.bool, device=x.device)
            for s in ATTRIBUTES:
                total = total + F.cross_entropy(att[s], taken[s])
                hit = att[s].argmax(1) == taken[s]
                exact &= hit
                metrics[f"{s}_acc"] = hit.float().mean().item()
            metrics["object_acc"] = exact.float().mean().item()
        metrics["cell_loss"] = cell_loss.item()
        return total, metrics
