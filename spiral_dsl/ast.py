"""The abstract syntax of .spl programs: frozen dataclasses, each with its source span.

Two layers live here:

* **core statements** (:class:`Move`, :class:`Stroke`, :class:`Place`) hold concrete values.
  They are what interpreters execute, what an action encodes, and what lowering produces.
  The parser builds a core statement directly when every argument is a literal (and a
  stroke names its ``via``), so ``parse(print(p)) == p`` holds for core programs.
* **surface nodes** (expressions, ``let``, ``def``, calls, ``repeat`` and statements whose
  arguments are expressions) are the sugar a person writes; lowering evaluates them away.

Spans never take part in equality or hashing: two programs are equal when their values are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = [
    "Span", "Point", "Color", "Move", "Stroke", "Place", "CoreStatement", "CORE_TYPES",
    "CORE_BY_DOMAIN",
    "Header", "Number", "Name", "PointExpr", "ColorLit", "RgbExpr", "Neg", "BinOp", "CallExpr",
    "Expr", "MoveStmt", "StrokeStmt", "PlaceStmt", "Let", "Param", "Def", "CallStmt", "Repeat",
    "Statement", "fold", "fold_expr", "fold_body", "SHAPES", "SIZE_CLASSES", "PARAM_TYPES", "BUILTINS", "DOMAINS",
]

DOMAINS = ("paint", "scene")
SHAPES = ("sphere", "cube", "cylinder", "capsule")
SIZE_CLASSES = ("small", "medium", "large")
PARAM_TYPES = ("Num", "Point", "Color")
BUILTINS = ("lerp", "mix")


def _span() -> Span | None:
    return field(default=None, compare=False, repr=False)


def _slot(name: str, kind: str, order: int):
    """Field metadata that makes a core statement argument an action slot (see actions.py):
    ``name`` of the slot, ``kind`` of discretisation, ``order`` in the default slot DAG."""
    return field(metadata={"slot": name, "kind": kind, "order": order})


@dataclass(frozen=True)
class Span:
    """Where a node stands in its source: 1-based line and column of its start and end."""
    filename: str
    line: int
    column: int
    end_line: int
    end_column: int


# ---------------------------------------------------------------------------- values
@dataclass(frozen=True)
class Point:
    """A point in canvas units (paint) or a grid cell (scene)."""
    x: float
    y: float

    def __add__(self, other: Point) -> Point:
        return Point(self.x + other.x, self.y + other.y)

    def __sub__(self, other: Point) -> Point:
        return Point(self.x - other.x, self.y - other.y)

    def __mul__(self, k: float) -> Point:
        return Point(self.x * k, self.y * k)

    __rmul__ = __mul__

    def __iter__(self):
        yield self.x
        yield self.y


@dataclass(frozen=True)
class Color:
    """An RGB colour with components in [0, 1]."""
    r: float
    g: float
    b: float

    @classmethod
    def from_hex(cls, text: str) -> Color:
        """``#rrggbb`` (either case) to a colour."""
        h = text.lstrip("#")
        return cls(int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255)

    def hex(self) -> str | None:
        """``#rrggbb`` when every component is exact at 8 bits, else ``None``."""
        out = []
        for c in (self.r, self.g, self.b):
            if not (isinstance(c, (int, float)) and math.isfinite(c)):
                return None
            k = round(c * 255)
            if not 0 <= k <= 255 or k / 255 != c:
                return None
            out.append(k)
        return "#" + "".join(f"{k:02x}" for k in out)

    def __iter__(self):
        yield self.r
        yield self.g
        yield self.b


# ---------------------------------------------------------------------------- core statements
@dataclass(frozen=True)
class Move:
    """``move to (x, y)``: lift the pen and put it down at ``to`` without ink."""
    to: Point = _slot("end", "location", 1)
    span: Span | None = _span()


@dataclass(frozen=True)
class Stroke:
    """``stroke via (cx, cy) to (x, y) pressure p size s color c``.

    A quadratic Bézier from the pen position through control point ``via`` to ``to``;
    ``size`` is the brush radius in canvas units.
    """
    to: Point = _slot("end", "location", 1)
    via: Point = _slot("control", "location", 2)
    pressure: float = _slot("pressure", "pressure", 4)
    size: float = _slot("size", "brush_size", 3)
    color: Color = _slot("color", "color", 5)
    span: Span | None = _span()


@dataclass(frozen=True)
class Place:
    """``place SHAPE at (i, j) size SIZE color c``: one object on the scene's table."""
    shape: str = _slot("shape", "shape", 1)
    cell: tuple[int, int] = _slot("cell", "cell", 2)
    size: str = _slot("size", "size_class", 3)
    color: Color = _slot("color", "color", 5)
    span: Span | None = _span()


CoreStatement = Move | Stroke | Place
CORE_TYPES = (Move, Stroke, Place)
#: The core statements of each domain, in the order of the ``flag`` slot.
CORE_BY_DOMAIN = {"paint": (Move, Stroke), "scene": (Place,)}


@dataclass(frozen=True)
class Header:
    """``paint ...`` or ``scene ...``: the domain and the settings written explicitly.

    ``settings`` holds only what the source spells out, as sorted ``(key, value)`` pairs;
    :func:`spiral_dsl.settings.resolve` fills in the defaults.
    """
    domain: str
    settings: tuple[tuple[str, object], ...] = ()
    span: Span | None = _span()


# ---------------------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Number:
    value: float
    span: Span | None = _span()


@dataclass(frozen=True)
class Name:
    id: str
    span: Span | None = _span()


@dataclass(frozen=True)
class PointExpr:
    x: Expr
    y: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class ColorLit:
    """A literal colour (``#rrggbb`` or ``rgb`` of plain numbers)."""
    color: Color
    span: Span | None = _span()


@dataclass(frozen=True)
class RgbExpr:
    """``rgb(r, g, b)`` whose components are expressions."""
    r: Expr
    g: Expr
    b: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class Neg:
    operand: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * /
    left: Expr
    right: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class CallExpr:
    """A builtin call: ``lerp(p, q, t)`` or ``mix(c1, c2, t)``."""
    func: str
    args: tuple[Expr, ...]
    span: Span | None = _span()


Expr = Number | Name | PointExpr | ColorLit | RgbExpr | Neg | BinOp | CallExpr


# ---------------------------------------------------------------------------- surface statements
@dataclass(frozen=True)
class MoveStmt:
    to: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class StrokeStmt:
    to: Expr
    via: Expr | None
    pressure: Expr
    size: Expr
    color: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class PlaceStmt:
    shape: str
    cell: Expr
    size: str
    color: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class Let:
    name: str
    value: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # one of PARAM_TYPES
    span: Span | None = _span()


@dataclass(frozen=True)
class Def:
    name: str
    params: tuple[Param, ...]
    body: tuple[Statement, ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class CallStmt:
    name: str
    args: tuple[Expr, ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class Repeat:
    """``repeat var in start..end { body }``: var = start .. end-1."""
    var: str
    start: Expr
    end: Expr
    body: tuple[Statement, ...]
    span: Span | None = _span()


Statement = Move | Stroke | Place | MoveStmt | StrokeStmt | PlaceStmt | Let | Def | CallStmt | Repeat


# ---------------------------------------------------------------------------- normal form
def fold_expr(e):
    """Normal form of an expression: ``-3`` is a number, ``rgb`` of numbers a colour literal."""
    if isinstance(e, Neg) and isinstance(e.operand, Number):
        return Number(-e.operand.value, e.span)
    if isinstance(e, RgbExpr) and all(isinstance(c, Number) for c in (e.r, e.g, e.b)):
        return ColorLit(Color(e.r.value, e.g.value, e.b.value), e.span)
    return e


def _literal_point(e) -> Point | None:
    if isinstance(e, PointExpr) and isinstance(e.x, Number) and isinstance(e.y, Number):
        return Point(e.x.value, e.y.value)
    return None


def fold(s):
    """Normal form of a statement: one whose arguments are all literals (and, for a stroke,
    that names its ``via``) is the core statement. The parser builds this form directly, so
    printing a core program and parsing it back is the identity."""
    if isinstance(s, MoveStmt):
        to = _literal_point(s.to)
        return Move(to, s.span) if to is not None else s
    if isinstance(s, StrokeStmt):
        to, via = _literal_point(s.to), _literal_point(s.via)
        if (to is not None and via is not None and isinstance(s.pressure, Number)
                and isinstance(s.size, Number) and isinstance(s.color, ColorLit)):
            return Stroke(to, via, s.pressure.value, s.size.value, s.color.color, s.span)
        return s
    if isinstance(s, PlaceStmt):
        cell = _literal_point(s.cell)
        if (cell is not None and s.shape in SHAPES and s.size in SIZE_CLASSES
                and float(cell.x).is_integer() and float(cell.y).is_integer()
                and isinstance(s.color, ColorLit)):
            return Place(s.shape, (int(cell.x), int(cell.y)), s.size, s.color.color, s.span)
        return s
    return s


def fold_body(body) -> tuple:
    """:func:`fold` applied to every statement of a body, blocks included."""
    out = []
    for s in body:
        if isinstance(s, Def):
            s = Def(s.name, s.params, fold_body(s.body), s.span)
        elif isinstance(s, Repeat):
            s = Repeat(s.var, s.start, s.end, fold_body(s.body), s.span)
        elif not isinstance(s, CORE_TYPES):
            s = fold(s)
        out.append(s)
    return tuple(out)
