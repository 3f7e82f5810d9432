"""SVG export of paint programs: every stroke as one quadratic Bézier path.

The geometry is exact (the same curve the mypaint backend samples: from the pen position
through ``via`` to ``to``; the pen starts at (0, 0) and ``move`` draws nothing). The brush is
an approximation: a stroke is drawn ``stroke-width`` = 2 × size (size is the radius) with round
caps, in its colour, with ``stroke-opacity`` = its pressure. A real brush's width and opacity
vary with pressure, speed and randomness (see docs/interpreters.md). Coordinates stay in
canvas units (``viewBox``); ``size`` only sets the displayed width and height.
"""
from __future__ import annotations

from xml.sax.saxutils import quoteattr

from .ast import Stroke
from .errors import SplTypeError
from .printer import format_number as _num
from .settings import DEFAULTS

__all__ = ["to_svg"]


def _hex(color) -> str:
    return "#" + "".join(f"{min(255, max(0, round(c * 255))):02x}" for c in color)


def to_svg(what, settings: dict | None = None, statements=None, size: int | None = None) -> str:
    """The SVG text of a paint program, given as any of

    * ``to_svg(domain, settings, statements)``: core statements and the header's settings;
    * ``to_svg(program)``: a :class:`~spiral_dsl.Program` (lowered here);
    * ``to_svg(statements, settings)``: paint core statements (settings default as a header).

    ``size`` is the displayed width and height in pixels (default: the header's ``canvas``).
    Statements are checked first (:class:`SplRangeError`, :class:`SplTypeError`).
    """
    from .interpreters.mypaint import check_settings, check_statement  # the paint guards

    if isinstance(what, str):
        domain, statements = what, list(statements or ())
    elif hasattr(what, "lower") and hasattr(what, "domain"):
        lowered = what.lower()
        domain, settings, statements = lowered.domain, dict(lowered.settings), list(lowered)
    else:
        domain, statements = "paint", list(what)
    if domain != "paint":
        raise SplTypeError(f"SVG export draws the paint domain, not {domain!r}")
    settings = {**DEFAULTS["paint"], **(settings or {})}
    canvas, side = check_settings(settings, size)
    for s in statements:
        check_statement(s, settings)
    c = _num(canvas)
    lines = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
             f'viewBox="0 0 {c} {c}">',
             f'<rect x="0" y="0" width="{c}" height="{c}" '
             f'fill={quoteattr(_hex(settings["background"]))}/>']
    pen = (0.0, 0.0)
    for s in statements:
        if isinstance(s, Stroke):
            d = (f"M {_num(pen[0])} {_num(pen[1])} Q {_num(s.via.x)} {_num(s.via.y)} "
                 f"{_num(s.to.x)} {_num(s.to.y)}")
            lines.append(f'<path d="{d}" fill="none" stroke="{_hex(s.color)}" '
                         f'stroke-width="{_num(2 * s.size)}" '
                         f'stroke-opacity="{_num(s.pressure)}" stroke-linecap="round" '
                         f'stroke-linejoin="round"/>')
        pen = (s.to.x, s.to.y)  # a move or a stroke leaves the pen at its end point
    lines.append("</svg>")
    return "\n".join(lines) + "\n"
