"""The interpreter protocol every backend implements, and the code built on it once.

A backend turns a program's header into a *canvas*, executes core statements on it one at a
time, and reads the image back::

    canvas = backend.start(domain, settings, size=None)   # a fresh canvas, pen at (0, 0)
    canvas.execute(statement)                             # one core statement
    canvas.image()                                        # H×W×3 float32 in [0, 1]
    canvas.close()                                        # free native resources

``settings`` is the full settings dict of the header (defaults filled in). ``size`` is the
output resolution in pixels (default: the header's ``canvas``); programs are written in
canvas units and a backend scales coordinates and sizes to ``size``. ``render`` and
``frames`` below are the only places that loop over statements, so replay and render share
one code path for every backend.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # numpy is imported lazily by backends
    import numpy as np

    from ..ast import CoreStatement


@runtime_checkable
class Canvas(Protocol):
    """One canvas being drawn on by a backend."""

    def execute(self, statement: CoreStatement) -> None:
        """Execute one core statement (already checked and in range)."""

    def image(self) -> np.ndarray:
        """The current image, H×W×3 float32 in [0, 1]."""

    def close(self) -> None:
        """Free native resources; the canvas is unusable afterwards. Idempotent."""


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
    from . import get_interpreter

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
