"""AST → canonical text.

Core statements are written with ``via``, pressure, size and colour explicit; colours as
``#rrggbb`` when exact at 8 bits, else ``rgb(r, g, b)``; numbers in shortest round-trip form
without trailing zeros or exponent; one statement a line; two spaces of indentation inside
blocks; comments are not kept. ``parse(print(p)) == p`` and printing is idempotent.
"""
from __future__ import annotations

import json
from decimal import Decimal

from . import ast as A
from .errors import SplTypeError

__all__ = ["format_number", "format_color", "print_program", "print_statement", "print_expr"]

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def format_number(x: float) -> str:
    """Shortest text that parses back to exactly ``x``: ``3``, ``0.25``, ``-0.5``."""
    x = float(x)
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    text = format(Decimal(repr(x)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_color(c: A.Color) -> str:
    h = c.hex()
    if h is not None:
        return h
    return f"rgb({format_number(c.r)}, {format_number(c.g)}, {format_number(c.b)})"


def _point(p: A.Point) -> str:
    return f"({format_number(p.x)}, {format_number(p.y)})"


def print_expr(e: A.Expr, parent: int = 0, right: bool = False) -> str:
    """An expression, parenthesised only where precedence needs it."""
    if isinstance(e, A.Number):
        text = format_number(e.value)
        # a negative literal inside a product or as a right operand keeps its meaning unparenthesised,
        # but "a - -3" would read oddly: parenthesise negatives under any operator
        return f"({text})" if e.value < 0 and parent else text
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.ColorLit):
        return format_color(e.color)
    if isinstance(e, A.PointExpr):
        return f"({print_expr(e.x)}, {print_expr(e.y)})"
    if isinstance(e, A.RgbExpr):
        return f"rgb({print_expr(e.r)}, {print_expr(e.g)}, {print_expr(e.b)})"
    if isinstance(e, A.CallExpr):
        return f"{e.func}({', '.join(print_expr(a) for a in e.args)})"
    if isinstance(e, A.Neg):
        inner = print_expr(e.operand, parent=3)
        text = f"-{inner}"
        return f"({text})" if parent else text
    if isinstance(e, A.BinOp):
        prec = _PRECEDENCE[e.op]
        text = f"{print_expr(e.left, prec)} {e.op} {print_expr(e.right, prec, right=True)}"
        # left-associative: a right operand of equal precedence needs parentheses
        if prec < parent or (prec == parent and right):
            return f"({text})"
        return text
    raise SplTypeError(f"not an expression: {e!r}")


def print_statement(s: A.Statement, indent: int = 0) -> list[str]:
    """The lines of one statement (several for blocks)."""
    pad = "  " * indent
    if isinstance(s, A.Move):
        return [f"{pad}move to {_point(s.to)}"]
    if isinstance(s, A.Stroke):
        return [f"{pad}stroke via {_point(s.via)} to {_point(s.to)} pressure "
                f"{format_number(s.pressure)} size {format_number(s.size)} color {format_color(s.color)}"]
    if isinstance(s, A.Place):
        return [f"{pad}place {s.shape} at ({s.cell[0]}, {s.cell[1]}) size {s.size} "
                f"color {format_color(s.color)}"]
    if isinstance(s, A.MoveStmt):
        return [f"{pad}move to {print_expr(s.to)}"]
    if isinstance(s, A.StrokeStmt):
        via = f"via {print_expr(s.via)} " if s.via is not None else ""
        return [f"{pad}stroke {via}to {print_expr(s.to)} pressure {print_expr(s.pressure)} "
                f"size {print_expr(s.size)} color {print_expr(s.color)}"]
    if isinstance(s, A.PlaceStmt):
        return [f"{pad}place {s.shape} at {print_expr(s.cell)} size {s.size} "
                f"color {print_expr(s.color)}"]
    if isinstance(s, A.Let):
        return [f"{pad}let {s.name} = {print_expr(s.value)}"]
    if isinstance(s, A.CallStmt):
        return [f"{pad}{s.name}({', '.join(print_expr(a) for a in s.args)})"]
    if isinstance(s, A.Def):
        params = ", ".join(f"{p.name}: {p.type}" for p in s.params)
        return [f"{pad}def {s.name}({params}) {{", *_block(s.body, indent), f"{pad}}}"]
    if isinstance(s, A.Repeat):
        return [f"{pad}repeat {s.var} in {print_expr(s.start)}..{print_expr(s.end)} {{",
                *_block(s.body, indent), f"{pad}}}"]
    raise SplTypeError(f"not a statement: {s!r}")


def _block(body, indent: int) -> list[str]:
    return [line for stmt in body for line in print_statement(stmt, indent + 1)]


def print_setting(key: str, value) -> str:
    if isinstance(value, A.Color):
        text = format_color(value)
    elif isinstance(value, str):
        text = json.dumps(value)
    else:
        text = format_number(value)
    return f"{key}={text}"


def print_header(h: A.Header) -> str:
    return " ".join([h.domain, *(print_setting(k, v) for k, v in h.settings)])


def print_program(header: A.Header, body) -> str:
    """The canonical text of a program, ending in a newline."""
    lines = [print_header(header)]
    for stmt in body:
        lines.extend(print_statement(stmt))
    return "\n".join(lines) + "\n"
