"""SVG export of paint programs: every stroke as a quadratic Bézier path.

A documented approximation of the brush (SVG has no libmypaint): each stroke is one
``<path d="M x0 y0 Q cx cy x y">`` with round caps, ``stroke-width`` = 2 × size (the brush
radius is ``size``), the stroke's colour, and ``stroke-opacity`` = pressure (libmypaint's
opacity grows with pressure; the raster model in docs/interpreters.md is closer). Moves draw
nothing. Coordinates stay in canvas units (``viewBox``); ``size`` sets the pixel width.
"""
from __future__ import annotations

from xml.sax.saxutils import quoteattr

from .ast import Move, Stroke
from .errors import SplTypeError
from .printer import format_number

__all__ = ["to_svg"]


def _hex(c) -> str:
    return "#" + "".join(f"{min(max(round(v * 255), 0), 255):02x}" for v in c)


def to_svg(domain: str, settings: dict, statements, size: int | None = None) -> str:
    """The SVG document of a lowered paint program's core statements."""
    if domain != "paint":
        raise SplTypeError(f"SVG export draws paint programs, not {domain!r} programs")
    canvas = settings["canvas"]
    px = size or canvas
    f = format_number
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{px}" height="{px}" '
           f'viewBox="0 0 {f(canvas)} {f(canvas)}">',
           f'<rect width="{f(canvas)}" height="{f(canvas)}" fill="{_hex(settings["background"])}"/>']
    pen = (0.0, 0.0)
    for k, s in enumerate(statements):
        if isinstance(s, Move):
            pen = (s.to.x, s.to.y)
        elif isinstance(s, Stroke):
            d = f"M {f(pen[0])} {f(pen[1])} Q {f(s.via.x)} {f(s.via.y)} {f(s.to.x)} {f(s.to.y)}"
            out.append(f'<path id="s{k}" d={quoteattr(d)} fill="none" stroke="{_hex(s.color)}" '
                       f'stroke-width="{f(2 * s.size)}" stroke-opacity="{f(s.pressure)}" '
                       'stroke-linecap="round" stroke-linejoin="round"/>')
            pen = (s.to.x, s.to.y)
        else:
            raise SplTypeError(f"SVG export draws move and stroke, not {type(s).__name__}")
    out.append("</svg>")
    return "\n".join(out) + "\n"
