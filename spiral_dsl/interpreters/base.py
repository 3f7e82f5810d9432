"""The two interpreter contracts every backend meets, and the code built on them once.

**One canvas** (:class:`Canvas`, every backend): a backend turns a program's header into a
canvas, executes core statements on it one at a time, and reads the image back::

    canvas = backend.start(domain, settings, size=None)   # a fresh canvas, pen at (0, 0)
    canvas.execute(statement)                             # one core statement
    canvas.image()                                        # H×W×3 float32 in [0, 1]
    canvas.close()                                        # free native resources

``settings`` is the full settings dict of the header (defaults filled in). ``size`` is the
output resolution in pixels (default: the header's ``canvas``); programs are written in
canvas units and a backend scales coordinates and sizes to ``size``. ``render`` and
``frames`` below are the only places that loop over statements, so replay and render share
one code path for every backend.

**B canvases stepped together** (:class:`BatchCanvas`, for training and search): one statement
per canvas per :meth:`~BatchCanvas.step`, given as torch tensors of *values* (one tensor per
statement field, batch first; :meth:`spiral_dsl.actions.ActionSpec.values_of` makes them from
action indices), the images read back as one (B, 3, H, W) tensor. The ``raster`` backend
implements it natively; :class:`~spiral_dsl.interpreters.batched.Batched` runs any single-canvas
backend behind it, and :func:`~spiral_dsl.interpreters.batched.start_batch` picks between them.

Using a closed canvas of either contract raises :class:`~spiral_dsl.errors.SplStateError`,
in every backend (tests/interpreters/conformance.py checks all of the above for each).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import SplTypeError
from .registry import get_interpreter

if TYPE_CHECKING:  # numpy and torch are imported lazily by backends
    import numpy as np
    import torch

    from ..ast import CoreStatement


@runtime_checkable
class Canvas(Protocol):
    """One canvas being drawn on by a backend."""

    def execute(self, statement: CoreStatement) -> None:
        """Execute one core statement of the canvas's domain. A statement of another domain
        raises :class:`~spiral_dsl.errors.SplTypeError`, an out-of-range value
        :class:`~spiral_dsl.errors.SplRangeError`, both before anything is drawn; on a closed
        canvas :class:`~spiral_dsl.errors.SplStateError`."""

    def image(self) -> np.ndarray:
        """The current image: a new H×W×3 float32 array in [0, 1] (``size`` pixels a side),
        which later statements do not change. Closed: ``SplStateError``."""

    def close(self) -> None:
        """Free native resources; every later call but ``close`` raises ``SplStateError``.
        Idempotent."""


@runtime_checkable
class BatchCanvas(Protocol):
    """``batch`` canvases of one domain and header, one statement each per :meth:`step`.

    Tensors are torch tensors on the canvas's device, batch first. After :meth:`close` every
    method but ``close`` raises :class:`~spiral_dsl.errors.SplStateError`.
    """

    batch: int
    """The number of canvases, B (changed only by :meth:`load_state`)."""

    def reset(self, mask: torch.Tensor | None = None) -> None:
        """Fresh canvases (all, or those where the (B,) bool ``mask`` is True): the
        background, the pen up at (0, 0), as ``start`` gives them. A mask of another shape
        raises :class:`~spiral_dsl.errors.SplTypeError` (:func:`reset_mask`)."""

    def step(self, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Execute one statement on each canvas and return :meth:`image`.

        ``values`` maps each field of the domain's core statements to a batch-first tensor, as
        :meth:`~spiral_dsl.actions.ActionSpec.values_of` makes them. Paint: ``flag`` (B,)
        int64 (0 ``move``, 1 ``stroke``), ``to`` and ``via`` (B, 2) canvas units, ``pressure``
        and ``size`` (B,), ``color`` (B, 3) in [0, 1]. Scene: ``shape`` (B,) int64 index into
        ``ast.SHAPES``, ``cell`` (B, 2) int64, ``size`` (B,) int64 index into
        ``ast.SIZE_CLASSES``, ``color`` (B, 3). A row ignores the fields its statement lacks
        (a ``move`` reads only ``to``); they must still be finite. Values out of range raise
        :class:`~spiral_dsl.errors.SplRangeError`, a tensor of the wrong shape
        :class:`~spiral_dsl.errors.SplTypeError`."""

    def image(self) -> torch.Tensor:
        """The current images, (B, 3, H, W) float32 in [0, 1]. Later steps do not change the
        tensor returned (a backend built to paint in place, e.g. ``RasterPainter(inplace=True)``,
        says so); callers must not write to it."""

    def state(self) -> dict:
        """Everything a later step depends on, as a dict (nested dicts allowed) whose leaves
        are batch first: tensors (B, ...) or sequences of length B, so that :func:`take_rows`
        can pick and repeat canvases. Later steps do not change it. Opaque otherwise: only
        :meth:`load_state` of a canvas of the same backend and header reads it."""

    def load_state(self, state: dict) -> None:
        """Continue from ``state`` (from :meth:`state` of a canvas of the same backend and
        header, any batch size; ``batch`` becomes that size). Later steps paint exactly what
        the canvases that made ``state`` would have painted."""

    def close(self) -> None:
        """Free the canvases (native resources, memory); idempotent."""


def reset_mask(mask, batch: int) -> torch.Tensor:
    """The ``mask`` of :meth:`BatchCanvas.reset` (a tensor or a sequence) as a (B,) bool
    tensor, B = ``batch``; another shape raises :class:`~spiral_dsl.errors.SplTypeError`
    (broadcasting a (1,) mask would reset every canvas)."""
    import torch
    mask = torch.as_tensor(mask)
    if mask.shape != (batch,):
        raise SplTypeError(f"reset mask of shape {tuple(mask.shape)} does not fit a batch of "
                           f"{batch}: expected ({batch},) bool")
    return mask.bool()


def take_rows(state: Any, rows: Sequence[int] | torch.Tensor) -> Any:
    """The :meth:`BatchCanvas.state` of the canvases ``rows`` (indices, repeats allowed): a
    new state whose canvas ``i`` is canvas ``rows[i]`` of ``state``. Tensors are copied."""
    if isinstance(state, Mapping):
        return {key: take_rows(value, rows) for key, value in state.items()}
    if hasattr(state, "index_select"):                    # a tensor: a copy, by one gather
        import torch
        return state.index_select(0, torch.as_tensor(rows, dtype=torch.long, device=state.device))
    return type(state)(state[int(i)] for i in rows) if isinstance(state, tuple) else [state[int(i)] for i in rows]


@runtime_checkable
class Interpreter(Protocol):
    """A backend: a name, the domains it draws, and a canvas factory."""

    name: str
    domains: tuple[str, ...]

    def start(self, domain: str, settings: dict, size: int | None = None) -> Canvas:
        """A fresh canvas for a program with this header."""


@contextmanager
def _opened(program, size, backend):
    """A fresh canvas for the lowered ``program`` and its core statements; closed on exit."""
    lowered = program.lower()
    canvas = get_interpreter(backend, lowered.domain).start(lowered.domain, lowered.settings, size)
    try:
        yield canvas, list(lowered)
    finally:
        canvas.close()


def frames(program, size: int | None = None, backend: str | None = None) -> Iterator[np.ndarray]:
    """Yield the image after each core statement of ``program`` (lowered first)."""
    with _opened(program, size, backend) as (canvas, statements):
        for statement in statements:
            canvas.execute(statement)
            yield canvas.image()


def render(program, size: int | None = None, backend: str | None = None) -> np.ndarray:
    """The final image of ``program``: H×W×3 float32 in [0, 1]."""
    with _opened(program, size, backend) as (canvas, statements):
        for statement in statements:
            canvas.execute(statement)
        return canvas.image()
