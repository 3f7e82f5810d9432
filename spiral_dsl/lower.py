"""Lowering: evaluate ``let``, ``def``, ``repeat`` and expressions into core statements.

Lowering also checks every value against its range, so an error in a computed value points at
the expression that produced it. The limits of :mod:`spiral_dsl.limits` keep any program finite
and fast, each checked before the work it bounds:

* ``core_statements``: core statements emitted;
* ``work``: 1 per executed statement, 1 per loop iteration, 1 per expression node evaluated
  (a statement's cost is counted before its expressions are evaluated, and a ``repeat`` whose
  iterations × static body cost would pass the limit fails before its first iteration);
* ``nesting``: calls nested inside calls (a chain of definitions each calling the previous one);
* ``paint_area``: the painted area of a paint program's strokes, at its own canvas size;
* and at most ``settings["objects"]`` objects in a scene.
"""
from __future__ import annotations

import math

from . import ast as A
from .errors import SplLimitError, SplRangeError, SplTypeError
from .limits import LIMITS, painted_area

__all__ = ["lower", "check_core", "expression_size", "painted_area_of", "check_render_cost",
           "MAX_CORE_STATEMENTS", "MAX_WORK"]

#: Kept for callers of earlier versions: the values of ``LIMITS.core_statements``/``work``.
MAX_CORE_STATEMENTS = LIMITS.core_statements
MAX_WORK = LIMITS.work
_LIMITS_DOC = "(a limit, see docs/language.md#limits)"
_ORIGIN = A.Point(0.0, 0.0)


def _finite(x: float, what: str, span) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise SplTypeError(f"{what} is {x!r}; it must be a number").at(span)
    if not math.isfinite(x):
        raise SplRangeError(f"{what} is {x!r}; it must be a finite number").at(span)
    return x


def check_point(p: A.Point, canvas: float, what: str, span) -> None:
    for v, axis in ((p.x, "x"), (p.y, "y")):
        _finite(v, f"{what} {axis}", span)
        if not 0 <= v <= canvas:
            raise SplRangeError(f"{what} {axis}={v:g} is outside the canvas [0, {canvas:g}]").at(span)


def check_unit(x: float, what: str, span) -> None:
    _finite(x, what, span)
    if not 0 <= x <= 1:
        raise SplRangeError(f"{what}={x:g} is out of range [0, 1]").at(span)


def check_color(c: A.Color, span) -> None:
    for v, name in zip(c, "rgb"):
        _finite(v, f"color {name}", span)
        if not 0 <= v <= 1:
            raise SplRangeError(f"color component {name}={v:g} is out of range [0, 1]").at(span)


def check_size(x: float, canvas: float, span) -> None:
    _finite(x, "size", span)
    if not 0 < x <= canvas:
        raise SplRangeError(f"size={x:g} is out of range (0, {canvas:g}]: it is the brush "
                            "radius in canvas units").at(span)


def check_core(s, settings: dict, spans=None) -> None:
    """Range-check one core statement against the header ``settings``.

    ``spans`` optionally maps a slot name (``to``, ``via``, ``pressure``, ``size``, ``color``,
    ``cell``) to the span of the expression that produced it.
    """
    spans = spans or {}

    def at(slot):
        return spans.get(slot, s.span)

    for name, want in (("to", A.Point), ("via", A.Point), ("color", A.Color)):
        if hasattr(s, name) and not isinstance(getattr(s, name), want):
            raise SplTypeError(f"{name}={getattr(s, name)!r} must be a {want.__name__}").at(s.span)
    if isinstance(s, A.Move):
        check_point(s.to, settings["canvas"], "move target", at("to"))
    elif isinstance(s, A.Stroke):
        canvas = settings["canvas"]
        check_point(s.via, canvas, "stroke control point", at("via"))
        check_point(s.to, canvas, "stroke end point", at("to"))
        check_unit(s.pressure, "pressure", at("pressure"))
        check_size(s.size, canvas, at("size"))
        check_color(s.color, at("color"))
    elif isinstance(s, A.Place):
        grid = settings["grid"]
        for v, axis in zip(s.cell, "ij"):
            if isinstance(v, bool) or not (isinstance(v, int) and 0 <= v < grid):
                raise SplRangeError(f"cell {axis}={v!r} is out of range: cells are integers "
                                    f"0 <= {axis} < grid={grid}").at(at("cell"))
        if s.shape not in A.SHAPES:
            raise SplRangeError(f"unknown shape {s.shape!r}; valid: {', '.join(A.SHAPES)}").at(s.span)
        if s.size not in A.SIZE_CLASSES:
            raise SplRangeError(f"unknown size {s.size!r}; valid: {', '.join(A.SIZE_CLASSES)}").at(s.span)
        check_color(s.color, at("color"))
    else:
        raise SplRangeError(f"not a core statement: {type(s).__name__}").at(getattr(s, "span", None))


class _Env:
    __slots__ = ("parent", "values")

    def __init__(self, parent=None):
        self.parent = parent
        self.values = {}

    def get(self, name):
        env = self
        while env is not None:
            if name in env.values:
                return env.values[name]
            env = env.parent
        raise KeyError(name)  # the checker rules this out


class _Closure:
    __slots__ = ("definition", "env")

    def __init__(self, definition, env):
        self.definition = definition
        self.env = env


def lower(body, settings: dict, domain: str) -> tuple:
    """Core statements of a checked program body (``settings`` complete, with defaults)."""
    return _Lowerer(settings, domain).run(body)


def painted_area_of(core) -> float:
    """The painted area of core paint statements (:func:`spiral_dsl.limits.painted_area`
    summed), in square canvas units; the pen starts at (0, 0)."""
    area, x, y = 0.0, 0.0, 0.0
    for s in core:
        if type(s) is A.Stroke:
            area += painted_area(x, y, s.via, s.to, s.size)
        x, y = s.to.x, s.to.y
    return area


def check_render_cost(core, settings: dict, size: int | None) -> None:
    """Raise :class:`SplLimitError` when rendering the lowered paint program ``core`` at
    ``size`` pixels (default: the canvas) would paint more than ``LIMITS.paint_area`` square
    pixels; for a renderer to call before its loop (scene statements cost nothing here)."""
    canvas = settings["canvas"]
    pixels = canvas if size is None else size
    area = painted_area_of(s for s in core if type(s) in (A.Move, A.Stroke)) * (pixels / canvas) ** 2
    if area > LIMITS.paint_area:
        raise SplLimitError(f"rendering at {pixels}×{pixels} px would paint about {area:,.0f} "
                            f"square pixels, more than paint_area={LIMITS.paint_area:,.0f} "
                            f"{_LIMITS_DOC}; render smaller")


def expression_size(e) -> int:
    """The number of expression nodes in ``e`` (its evaluation work), without recursion."""
    n, stack = 0, [e]
    while stack:
        node = stack.pop()
        n += 1
        t = type(node)
        if t is A.BinOp:
            stack.append(node.left)
            stack.append(node.right)
        elif t is A.Neg:
            stack.append(node.operand)
        elif t is A.PointExpr:
            stack.append(node.x)
            stack.append(node.y)
        elif t is A.RgbExpr:
            stack.extend((node.r, node.g, node.b))
        elif t is A.CallExpr:
            stack.extend(node.args)
    return n


def _statement_expressions(s) -> tuple:
    if isinstance(s, A.MoveStmt):
        return (s.to,)
    if isinstance(s, A.StrokeStmt):
        return (s.to, s.pressure, s.size, s.color) + ((s.via,) if s.via is not None else ())
    if isinstance(s, A.PlaceStmt):
        return (s.cell, s.color)
    if isinstance(s, A.Let):
        return (s.value,)
    if isinstance(s, A.CallStmt):
        return s.args
    if isinstance(s, A.Repeat):
        return (s.start, s.end)
    return ()


class _Lowerer:
    def __init__(self, settings: dict, domain: str):
        self.settings = settings
        self.domain = domain
        self.out: list = []
        self.work = 0
        self.objects = 0
        self.calls = 0                 # calls being executed, one inside another
        self.area = 0.0                # painted area so far (paint), canvas units squared
        self._costs: dict[int, int] = {}  # id(statement) → its cost (statements outlive this)

    def run(self, body) -> tuple:
        self.block(body, _Env())
        return tuple(self.out)

    def emit(self, stmt, spans=None) -> None:
        check_core(stmt, self.settings, spans)
        if isinstance(stmt, A.Stroke):
            pen = self.out[-1].to if self.out else _ORIGIN
            self.area += painted_area(pen.x, pen.y, stmt.via, stmt.to, stmt.size)
            if self.area > LIMITS.paint_area:
                raise SplLimitError(
                    f"the strokes so far paint about {self.area:,.0f} square canvas units, more "
                    f"than paint_area={LIMITS.paint_area:,.0f} {_LIMITS_DOC}: too many or too "
                    "large strokes").at(stmt.span)
        elif isinstance(stmt, A.Place):
            self.objects += 1
            if self.objects > self.settings["objects"]:
                raise SplLimitError(f"more than objects={self.settings['objects']} place "
                                    "statements; raise 'objects' in the header (at most 64)").at(stmt.span)
        if len(self.out) >= LIMITS.core_statements:
            raise SplLimitError(f"the program lowers to more than core_statements="
                                f"{LIMITS.core_statements:,} core statements "
                                f"{_LIMITS_DOC}").at(stmt.span)
        self.out.append(stmt)

    def cost(self, s) -> int:
        """The work of executing statement ``s`` once, its blocks and calls not included."""
        if type(s) in A.CORE_TYPES:
            return 1
        c = self._costs.get(id(s))
        if c is None:
            c = 1 + sum(expression_size(e) for e in _statement_expressions(s))
            self._costs[id(s)] = c
        return c

    def tick(self, span, n: int = 1) -> None:
        self.work += n
        if self.work > LIMITS.work:
            raise SplLimitError(f"lowering takes more than work={LIMITS.work:,} steps "
                                f"{_LIMITS_DOC}; the program is too large").at(span)

    def block(self, body, env: _Env) -> None:
        for stmt in body:
            self.statement(stmt, env)

    def statement(self, s, env: _Env) -> None:
        if type(s) in A.CORE_TYPES:
            self.work += 1
        else:
            self.work += self._costs.get(id(s)) or self.cost(s)
        if self.work > LIMITS.work:
            self.tick(s.span, 0)  # raises
        ev = self.eval
        if isinstance(s, A.CORE_TYPES):
            self.emit(s)
        elif isinstance(s, A.MoveStmt):
            self.emit(A.Move(ev(s.to, env), s.span), {"to": s.to.span})
        elif isinstance(s, A.StrokeStmt):
            to = ev(s.to, env)
            if s.via is not None:
                via, via_span = ev(s.via, env), s.via.span
            else:  # a straight stroke: the control point is the midpoint of start and end
                pen = self.pen()
                via, via_span = A.Point((pen.x + to.x) / 2, (pen.y + to.y) / 2), s.to.span
            self.emit(A.Stroke(to, via, ev(s.pressure, env), ev(s.size, env), ev(s.color, env),
                               s.span),
                      {"to": s.to.span, "via": via_span, "pressure": s.pressure.span,
                       "size": s.size.span, "color": s.color.span})
        elif isinstance(s, A.PlaceStmt):
            cell = ev(s.cell, env)
            ij = []
            for v, axis in ((cell.x, "i"), (cell.y, "j")):
                if not (math.isfinite(v) and float(v).is_integer()):
                    raise SplRangeError(f"cell {axis}={v!r} must be an integer").at(s.cell.span)
                ij.append(int(v))
            self.emit(A.Place(s.shape, tuple(ij), s.size, ev(s.color, env), s.span),
                      {"cell": s.cell.span, "color": s.color.span})
        elif isinstance(s, A.Let):
            env.values[s.name] = ev(s.value, env)
        elif isinstance(s, A.Def):
            env.values[s.name] = _Closure(s, env)
        elif isinstance(s, A.CallStmt):
            closure = env.get(s.name)
            inner = _Env(closure.env)
            for p, arg in zip(closure.definition.params, s.args):
                inner.values[p.name] = ev(arg, env)
            if self.calls >= LIMITS.nesting:
                raise SplLimitError(f"calls nested deeper than nesting={LIMITS.nesting} "
                                    f"{_LIMITS_DOC}").at(s.span)
            self.calls += 1
            self.block(closure.definition.body, inner)
            self.calls -= 1
        elif isinstance(s, A.Repeat):
            start, end = self._bound(s.start, env, "start"), self._bound(s.end, env, "end")
            if end <= start:
                return
            n = end - start
            each = 1 + sum(self.cost(b) for b in s.body)
            if self.work + n * each > LIMITS.work:
                raise SplLimitError(
                    f"this repeat needs at least {n:,} iterations × {each:,} steps = "
                    f"{n * each:,} steps of work, more than work={LIMITS.work:,} "
                    f"{_LIMITS_DOC} ({self.work:,} used before it)").at(s.span)
            self.work += n  # one step per iteration, counted up front
            body, var, statement = s.body, s.var, self.statement
            for k in range(start, end):
                inner = _Env(env)
                inner.values[var] = float(k)
                for stmt in body:
                    statement(stmt, inner)
        else:
            raise SplRangeError(f"not a statement: {type(s).__name__}").at(getattr(s, "span", None))

    def pen(self) -> A.Point:
        """The pen position: the last statement's ``to``, (0, 0) before any."""
        return self.out[-1].to if self.out else A.Point(0.0, 0.0)

    def _bound(self, expr, env, which: str) -> int:
        v = self.eval(expr, env)
        if not (math.isfinite(v) and float(v).is_integer()):
            raise SplRangeError(f"repeat {which}={v!r} must be an integer").at(expr.span)
        return int(v)

    def eval(self, e, env: _Env):
        """The value of a (type-checked) expression: float, Point or Color."""
        if isinstance(e, A.Number):
            return e.value
        if isinstance(e, A.Name):
            return env.get(e.id)
        if isinstance(e, A.PointExpr):
            return A.Point(self.eval(e.x, env), self.eval(e.y, env))
        if isinstance(e, A.ColorLit):
            return e.color
        if isinstance(e, A.RgbExpr):
            return A.Color(self.eval(e.r, env), self.eval(e.g, env), self.eval(e.b, env))
        if isinstance(e, A.Neg):
            v = self.eval(e.operand, env)
            return v * -1 if isinstance(v, A.Point) else -v
        if isinstance(e, A.BinOp):
            a, b = self.eval(e.left, env), self.eval(e.right, env)
            if e.op == "+":
                return a + b
            if e.op == "-":
                return a - b
            if e.op == "*":
                return b * a if isinstance(b, A.Point) else a * b
            if b == 0:
                raise SplRangeError("division by zero").at(e.span)
            return A.Point(a.x / b, a.y / b) if isinstance(a, A.Point) else a / b
        if isinstance(e, A.CallExpr):
            p, q, t = (self.eval(a, env) for a in e.args)
            if e.func == "lerp":
                if isinstance(p, A.Point):
                    return A.Point(p.x + (q.x - p.x) * t, p.y + (q.y - p.y) * t)
                return p + (q - p) * t
            return A.Color(*(a + (b - a) * t for a, b in zip(p, q)))  # mix
        raise SplRangeError(f"not an expression: {type(e).__name__}").at(getattr(e, "span", None))
