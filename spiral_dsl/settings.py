"""Header settings of each domain: names, defaults and valid ranges."""
from __future__ import annotations

from types import MappingProxyType

from .ast import Color

DEFAULTS = MappingProxyType({
    "paint": MappingProxyType({"canvas": 64, "grid": 32, "brush": "classic/dry_brush",
                               "background": Color(1.0, 1.0, 1.0)}),
    "scene": MappingProxyType({"canvas": 64, "grid": 16, "objects": 5}),
})

#: Integer settings and their inclusive ranges.
INT_RANGES = MappingProxyType({
    "canvas": (1, 4096),
    "grid": (1, 1024),
    "objects": (1, 64),
})


def resolve(domain: str, explicit) -> dict:
    """The full settings of a header: the defaults of ``domain`` updated by ``explicit``."""
    out = dict(DEFAULTS[domain])
    out.update(dict(explicit))
    return out
