"""Any single-canvas backend behind the batch contract, and the one way to open a batch.

:func:`start_batch` gives a :class:`~.base.BatchCanvas` for any backend: the backend's own
(``start_batch``, e.g. the raster's :class:`~.raster.RasterPainter`) when it has one, else
:class:`Batched`, which keeps B canvases of the single-canvas contract (libmypaint, MuJoCo)
and loops over them: a loop over the batch, none over pixels. torch is imported when a batch
is opened, never when this module is (the language layer loads no torch).
"""
from __future__ import annotations

from collections.abc import Mapping

from ..errors import SplRangeError, SplStateError, SplTypeError
from ..lower import check_core
from ..values import statements_of_values
from .base import Interpreter, reset_mask
from .registry import get_interpreter

__all__ = ["Batched", "start_batch"]


def start_batch(backend: str | None, domain: str, settings: dict, batch: int,
                size: int | None = None, device="cpu"):
    """``batch`` fresh canvases of ``backend`` (default: the domain's) behind the batch
    contract, images on ``device``."""
    if not (isinstance(batch, int) and batch >= 1):
        raise SplRangeError(f"batch={batch!r} is out of range: an integer >= 1")
    interp = get_interpreter(backend, domain)
    if hasattr(interp, "start_batch"):
        return interp.start_batch(domain, settings, batch, size, device=device)
    return Batched(interp, domain, settings, batch, size, device)


class Batched:
    """B canvases of a single-canvas backend behind :class:`~.base.BatchCanvas`.

    :meth:`step` turns the values back into core statements
    (:func:`~spiral_dsl.values.statements_of_values`; float64 values give the action grid's
    exact floats) and executes one on each canvas. The state is the statements each canvas has
    executed since its reset, and :meth:`load_state` replays them on fresh canvases: exact for
    every backend, and as slow as drawing them again.
    """

    def __init__(self, interpreter: Interpreter, domain: str, settings: dict, batch: int,
                 size: int | None = None, device="cpu"):
        import torch

        self.interpreter, self.domain, self.settings, self.size = interpreter, domain, settings, size
        self.device = torch.device(device)
        self.batch = batch
        self._canvases: list | None = []
        self._history: list[tuple] = []
        self._open(batch)

    def _open(self, batch: int) -> None:
        for canvas in self._canvases:
            canvas.close()
        self._canvases = []       # closed first: a failing start leaves nothing half open
        canvases = []
        try:
            for _ in range(batch):
                canvases.append(self.interpreter.start(self.domain, self.settings, self.size))
        except BaseException:     # the ones started before the failure are closed too
            for canvas in canvases:
                canvas.close()
            raise
        self._canvases = canvases
        self._history = [() for _ in range(batch)]
        self.batch = batch

    def _check_open(self) -> None:
        if self._canvases is None:
            raise SplStateError("this canvas is closed")

    def reset(self, mask=None) -> None:
        self._check_open()
        if mask is None:
            self._open(self.batch)
            return
        for b, fresh in enumerate(reset_mask(mask, self.batch).tolist()):
            if fresh:
                self._canvases[b].close()
                self._canvases[b] = self.interpreter.start(self.domain, self.settings, self.size)
                self._history[b] = ()

    def step(self, values: Mapping):
        self._check_open()
        statements = statements_of_values(self.domain, values)
        if len(statements) != self.batch:
            raise SplTypeError(f"step values hold {len(statements)} statements; expected batch={self.batch}")
        for statement in statements:         # every row checked before any canvas draws
            check_core(statement, self.settings)
        for b, (canvas, statement) in enumerate(zip(self._canvases, statements)):
            canvas.execute(statement)
            self._history[b] = (*self._history[b], statement)
        return self.image()

    def image(self):
        import numpy as np
        import torch

        self._check_open()
        arr = np.stack([c.image() for c in self._canvases])             # (B, H, W, 3)
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous().to(self.device)

    def state(self) -> dict:
        self._check_open()
        return {"statements": tuple(self._history)}

    def load_state(self, state: dict) -> None:
        self._check_open()
        history = list(state["statements"])
        self._open(len(history))
        for canvas, statements in zip(self._canvases, history):
            for statement in statements:
                canvas.execute(statement)
        self._history = [tuple(h) for h in history]

    def close(self) -> None:
        for canvas in self._canvases or ():
            canvas.close()
        self._canvases = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
