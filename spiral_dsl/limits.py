"""Every resource limit of the language and its renderers, as one data object.

Code reads :data:`LIMITS`; docs/language.md ("Limits") lists the same fields and a test
checks the table against this object, so the two cannot disagree. Each limit is checked
*before* the work or the allocation it bounds, and its error names the limit (by the field
name below) and the value that broke it.

Limits owned by other layers (image decoding, checkpoint configs) are listed in the
documentation table beside these; their values live with their code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = ["Limits", "LIMITS", "painted_area", "limit_names"]


@dataclass(frozen=True)
class Limits:
    """The limits, one field each; the docstring of a field is the line under it."""

    core_statements: int = 100_000
    """Core statements a program lowers to (each ``move``/``stroke``/``place`` emitted)."""

    work: int = 1_000_000
    """Steps of lowering work: 1 per executed statement, 1 per loop iteration and 1 per
    expression node evaluated. A ``repeat`` whose iterations × body cost would pass the limit
    fails before its first iteration."""

    nesting: int = 100
    """Depth of nesting: blocks (``def``, ``repeat``) and expression nodes inside one another;
    ``a + b + c`` is two levels (``+`` is left-associative), ``-(-x)`` two, ``((x))`` none.
    Also the depth of calls inside calls while lowering."""

    source_bytes: int = 20_000_000
    """Size of a program's text or JSON form: characters of a string, bytes of a file (checked
    before reading it)."""

    sugar_source_bytes: int = 1_000_000
    """Size of a program text read by the full parser (lark, about 10,000 statements a second):
    any text that is not only core statements one a line (sugar, several statements on a
    line). Core statements one a line are read by a fast path, up to ``source_bytes``."""

    paint_area: float = 50_000_000.0
    """Painted area of a paint program, in square pixels: per stroke, the length of its
    control polygon × the brush diameter + one dab (π size²), summed. Checked while lowering
    (canvas units, i.e. pixels at the default render size) and again by the libmypaint
    backend at the render size, before each stroke's C call."""

    render_side: int = 8192
    """Side of a rendered image in pixels (a libmypaint surface of 8192² is 512 MiB)."""

    brush_file_bytes: int = 1_000_000
    """Size of a ``.myb`` brush file, read before parsing."""

    brush_dabs_per_radius: float = 6.0
    """``dabs_per_actual_radius`` and ``dabs_per_basic_radius`` of a brush, base value plus the
    largest output of its input curves (libmypaint's own documented maximum)."""

    brush_dabs_per_second: float = 80.0
    """``dabs_per_second`` of a brush, as above (libmypaint's documented maximum)."""

    error_excerpt_chars: int = 160
    """Characters of the source line shown under an error (a window around the caret)."""

    error_message_chars: int = 2_000
    """Characters of an error message (longer ones are cut in the middle)."""


LIMITS = Limits()


def limit_names() -> tuple[str, ...]:
    """The names of the limits, in declaration order."""
    return tuple(f.name for f in fields(Limits))


def painted_area(p0x: float, p0y: float, via, to, size: float) -> float:
    """The painted-area estimate of one stroke (see :attr:`Limits.paint_area`), in the units
    of its arguments squared: control polygon length × diameter + π size²."""
    length = math.hypot(via.x - p0x, via.y - p0y) + math.hypot(to.x - via.x, to.y - via.y)
    return length * 2.0 * size + math.pi * size * size
