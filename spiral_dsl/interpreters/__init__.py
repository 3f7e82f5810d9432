"""Interpreter backends behind two contracts (see :mod:`.base`), chosen by name or domain.

:class:`Canvas` is one canvas executing core statements (every backend); :class:`BatchCanvas`
is B canvases stepped together on tensors, for training: the ``raster`` backend implements it
natively, :class:`~spiral_dsl.interpreters.batched.Batched` runs any single-canvas backend
behind it, and :func:`~spiral_dsl.interpreters.batched.start_batch` picks between them.

Backends register lazily by module path (:mod:`.registry`) so that importing :mod:`spiral_dsl`
loads no native library: ``paint`` → ``mypaint`` (libmypaint), ``scene`` → ``mujoco``;
``raster`` is the fast batched approximation of the paint domain used for training.
"""
from __future__ import annotations

from .base import BatchCanvas, Canvas, Interpreter, frames, render, take_rows
from .registry import BACKENDS, DEFAULT_BACKEND, get_interpreter, register

__all__ = ["Canvas", "BatchCanvas", "Interpreter", "frames", "render", "take_rows",
           "get_interpreter", "register", "BACKENDS", "DEFAULT_BACKEND"]
