"""Errors of the learning layer (all are :class:`spiral_dsl.SplError`)."""
from __future__ import annotations

from spiral_dsl.errors import SplError

__all__ = ["DataError"]


class DataError(SplError):
    """Missing or malformed data: no such file, not an IDX file, an unknown set name."""
