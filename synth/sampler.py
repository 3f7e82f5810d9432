"""Deterministic, resumable streams of training targets."""
from __future__ import annotations

import numpy as np

from spiral_dsl.errors import SplRangeError

__all__ = ["TargetSampler"]


class TargetSampler:
    """Deterministic batches of targets for training.

    The images are visited in epochs, each a permutation seeded by ``(seed, epoch)``, so each
    image is drawn once per epoch and the stream is a function of ``seed`` alone:
    ``sample(a)`` then ``sample(b)`` equals ``sample(a + b)``, and ``start=k`` resumes after
    ``k`` images were drawn (``position`` says how many have been).
    """

    def __init__(self, images: np.ndarray, seed: int = 0, start: int = 0):
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
            raise SplRangeError(f"images have shape {images.shape}; expected N×H×W×3 with N >= 1")
        if start < 0:
            raise SplRangeError(f"start={start} is negative")
        self.images, self.seed, self.position = images, int(seed), int(start)
        self._epoch, self._order = -1, None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))
        return self._order

    def indices(self, batch: int) -> np.ndarray:
        """The indices of the next ``batch`` images (advances the stream)."""
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 0:
            raise SplRangeError(f"batch={batch!r} must be an integer >= 0")
        n, out = len(self.images), []
        while len(out) < batch:
            epoch, offset = divmod(self.position, n)
            take = self._permutation(epoch)[offset: offset + batch - len(out)]
            out.extend(take.tolist())
            self.position += len(take)
        return np.asarray(out, np.int64)

    def sample(self, batch: int) -> np.ndarray:
        """The next ``batch`` images, ``(batch, H, W, 3)``."""
        return self.images[self.indices(batch)]

    def __iter__(self):
        """One image at a time, forever (usable as an env's ``targets`` iterable)."""
        while True:
            yield self.images[self.indices(1)[0]]
