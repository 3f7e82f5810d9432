"""Errors of the learning layer (all are :class:`spiral_dsl.SplError`)."""
from __future__ import annotations

from spiral_dsl.errors import SplError

__all__ = ["DataError", "ConfigError", "RunError"]


class DataError(SplError):
    """Missing or malformed data: no such file, not an IDX file, an unknown set name."""


class ConfigError(SplError):
    """A training configuration that cannot run: a missing or malformed config file, an unknown
    key, a value of the wrong type or out of its range (positioned at the key in the file)."""


class RunError(SplError):
    """A run that cannot start or continue: its ``out_dir`` is in use by another run, or
    ``--resume`` finds nothing to resume, or a worker process it depends on failed or died
    (:mod:`synth.gradients`; the message carries the worker's traceback)."""
