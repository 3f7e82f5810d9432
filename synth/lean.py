"""The lean policy's building blocks (``arch = "lean"``): the same inputs, outputs and decoder
as SPIRAL's network (:mod:`synth.nets`), under a quarter of the multiply-adds (8.3 M vs 35.8 M
per sample and step for configs/mnist.toml), for a CPU.

Where SPIRAL's network spends its time on a CPU (``configs/mnist.toml``, one thread; see
docs/scaling.md, "The training loop on two cores"): the two spatial location heads (two
transposed convolutions from the H/8 map up to the 32×32 grid, each) and the first 5×5
convolution at half the canvas resolution, then the 3×3 residual blocks. The lean network
replaces each with a cheaper equivalent of the same receptive role:

* :func:`lean_encoder` — downsample before widening: a 4×4 stride-4 patch convolution (each
  input pixel is read once) then a 4×4 stride-2 convolution to the H/8 map of ``2C`` channels.
* :class:`BottleneckBlock` — residual blocks as 1×1 → 3×3 → 1×1 at ``C`` channels inside
  (ResNet's bottleneck): a quarter of the two 3×3 convolutions at ``2C``.
* :class:`ShuffleLocationHead` — location logits computed *at the feature map's resolution*:
  each of the S×S cells predicts the (grid/S)² logits of the grid points inside it (``r²``
  channels), rearranged to grid×grid by a pixel shuffle (sub-pixel convolution, Shi et al.
  2016). Every grid point keeps its own logit (no interpolation that would blur the choice),
  at the cost of two small convolutions on the S×S map instead of two upsampling ones.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

__all__ = ["lean_encoder", "BottleneckBlock", "ShuffleLocationHead"]


def lean_encoder(in_ch: int, c: int) -> nn.Sequential:
    """(B, in_ch, H, W) → (B, 2c, H/8, W/8): patchify by 4, then one overlapping stride-2 conv."""
    return nn.Sequential(
        nn.Conv2d(in_ch, c, 4, stride=4), nn.ReLU(),              # H/4, each pixel read once
        nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),              # H/8
    )


class BottleneckBlock(nn.Module):
    """x + 1×1(3×3(1×1(x))) with ``inner`` channels inside; pre-activation like nets.ResBlock."""

    def __init__(self, c: int, inner: int):
        super().__init__()
        self.a = nn.Conv2d(c, inner, 1)
        self.b = nn.Conv2d(inner, inner, 3, padding=1)
        self.c = nn.Conv2d(inner, c, 1)

    def forward(self, x):
        return x + self.c(F.relu(self.b(F.relu(self.a(F.relu(x))))))


class ShuffleLocationHead(nn.Module):
    """z (B, hidden) and the encoder's map (B, F, S, S) → logits over a grid×grid map (B, grid²),
    row-major; ``grid = r·S`` for an integer ``r``.

    As in ``nets.SpatialLocationHead``, z says *which* place to pick (broadcast over the map
    through a FiLM bias) and the map says *where* things are; the logits of the r×r grid
    points inside each cell come out as r² channels of that cell (3×3 context), and a pixel
    shuffle lays them out on the grid."""

    reads_map = True

    def __init__(self, hidden: int, grid: int, channels: int, size: int):
        super().__init__()
        self.grid, self.r = grid, grid // size
        self.film = nn.Linear(hidden, channels)
        self.mix = nn.Conv2d(channels, channels, 1)
        self.out = nn.Conv2d(channels, self.r * self.r, 3, padding=1)

    @staticmethod
    def fits(grid: int, size: int) -> bool:
        return grid >= size and grid % size == 0

    def forward(self, z, fmap):
        x = F.relu(fmap + self.film(z)[:, :, None, None])                  # (B, F, S, S)
        x = self.out(F.relu(self.mix(x)))                                 # (B, r², S, S)
        return F.pixel_shuffle(x, self.r).flatten(1)                      # (B, grid²)
