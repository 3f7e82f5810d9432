"""spiral-dsl: turn images into programs you can read, edit and run.

``Program`` is a checked .spl program; ``synthesize(image)`` infers one from an image and
``sample(n)`` draws new ones from the unconditional painter. Importing
this package loads neither torch nor ray nor any native renderer: backends load on first use.
"""
from __future__ import annotations

from .ast import Color, Move, Place, Point, Stroke
from .errors import (
    SplBackendError,
    SplError,
    SplLimitError,
    SplNameError,
    SplRangeError,
    SplStateError,
    SplSyntaxError,
    SplTypeError,
)
from .program import Program

__all__ = ["Program", "synthesize", "sample", "Move", "Stroke", "Place", "Point", "Color", "SplError",
           "SplSyntaxError", "SplTypeError", "SplNameError", "SplRangeError", "SplLimitError",
           "SplBackendError", "SplStateError"]
__version__ = "0.1.0"


#: How to get the learning layer (torch, gymnasium, ray) when it is missing.
INSTALL_SYNTH = "pip install 'spiral-dsl[synth]'"

#: Modules of the learning layer and its dependencies; a missing one means "install the extra".
_LEARNING_MODULES = ("synth", "torch", "gymnasium", "ray", "tqdm")


def _learning(name: str):
    """``synth.synthesize.<name>``, imported on first use; without the learning layer a
    :class:`SplBackendError` naming the install command."""
    try:
        from synth import synthesize as module
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in _LEARNING_MODULES:
            raise
        raise SplBackendError(f"{name} needs the learning layer, and {e.name} is not "
                              f"installed: {INSTALL_SYNTH}") from None
    return getattr(module, name)


def synthesize(target, **kwargs) -> Program:
    """Infer a program that draws ``target`` (a path or an image array).

    See :func:`synth.synthesize.synthesize` for the arguments. This and :func:`sample` are the
    language's references to the learning layer, imported on first call (with torch); without
    it the call raises :class:`SplBackendError` naming the install command.
    """
    return _learning("synthesize")(target, **kwargs)


def sample(count: int = 16, **kwargs) -> list[Program]:
    """``count`` new programs from the shipped unconditional digit painter (or ``checkpoint=``);
    see :func:`synth.synthesize.sample`. Imported on first call, like :func:`synthesize`."""
    return _learning("sample")(count, **kwargs)
