"""The backend registry: backends by name, and the default backend of each domain.

Backends register lazily by module path so that importing :mod:`spiral_dsl` loads no native
library: ``paint`` → ``mypaint`` (libmypaint), ``scene`` → ``mujoco``; ``raster`` is the fast
batched approximation of the paint domain used for training. A module of its own so that
:mod:`.base` (which looks backends up to render) and the package ``__init__`` (which re-exports
both) do not import each other.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import SplBackendError

if TYPE_CHECKING:
    from .base import Interpreter

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "register", "get_interpreter"]

#: backend name → "module:attribute" of a zero-argument factory returning an Interpreter.
BACKENDS: dict[str, str] = {
    "mypaint": "spiral_dsl.interpreters.mypaint:MyPaintInterpreter",
    "mujoco": "spiral_dsl.interpreters.mujoco:MujocoInterpreter",
    "raster": "spiral_dsl.interpreters.raster:RasterInterpreter",
}
DEFAULT_BACKEND = {"paint": "mypaint", "scene": "mujoco"}
_instances: dict[str, Interpreter] = {}


def register(name: str, target: str) -> None:
    """Register a backend factory given as ``"module:attribute"``."""
    BACKENDS[name] = target
    _instances.pop(name, None)


def get_interpreter(name: str | None = None, domain: str | None = None) -> Interpreter:
    """The backend called ``name``, or the default backend of ``domain``."""
    if name is None:
        if domain not in DEFAULT_BACKEND:
            raise SplBackendError(f"no default backend for domain {domain!r}; "
                                  f"valid domains: {sorted(DEFAULT_BACKEND)}")
        name = DEFAULT_BACKEND[domain]
    if name not in BACKENDS:
        raise SplBackendError(f"unknown backend {name!r}; valid backends: {sorted(BACKENDS)}")
    if name not in _instances:
        module_name, attr = BACKENDS[name].split(":")
        factory = getattr(importlib.import_module(module_name), attr)
        _instances[name] = factory()
    interp = _instances[name]
    if domain is not None and domain not in interp.domains:
        raise SplBackendError(f"backend {name!r} draws {list(interp.domains)}, "
                              f"not the {domain!r} domain")
    return interp
