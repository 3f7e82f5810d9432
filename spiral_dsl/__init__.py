"""spiral-dsl: turn images into programs you can read, edit and run.

``Program`` is a checked .spl program; ``synthesize(image)`` infers one from an image. Importing
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
    SplSyntaxError,
    SplTypeError,
)
from .program import Program

__all__ = ["Program", "synthesize", "Move", "Stroke", "Place", "Point", "Color", "SplError",
           "SplSyntaxError", "SplTypeError", "SplNameError", "SplRangeError", "SplLimitError",
           "SplBackendError"]
__version__ = "0.1.0"


def synthesize(target, **kwargs) -> Program:
    """Infer a program that draws ``target`` (a path or an image array).

    See :func:`synth.synthesize.synthesize` for the arguments. torch is imported on first call.
    """
    try:
        from synth.synthesize import synthesize as _synthesize
    except ImportError as e:
        if getattr(e, "name", None) not in ("synth", "synth.synthesize"):
            raise
        raise SplBackendError("the learned synthesizer is not built yet (synth.synthesize "
                              "is missing); install spiral-dsl with the 'synth' extra") from None
    return _synthesize(target, **kwargs)
