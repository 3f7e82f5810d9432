"""Public hypothesis strategies that generate valid programs, for users' own property tests.

``programs(domain=..., core_only=..., max_statements=...)`` draws a checked :class:`Program`;
``statements(domain, settings)`` draws one valid core statement. Sugar programs use ``let``,
``def``, calls, ``repeat``, builtins and arithmetic, built so that every computed value stays
in range (midpoints, ``lerp``/``mix`` with t in [0, 1], loop counters scaled into the canvas).
"""
from __future__ import annotations

from hypothesis import strategies as st

from . import ast as A
from .program import Program
from .settings import DEFAULTS

__all__ = ["programs", "statements", "colors", "headers", "BRUSHES"]

BRUSHES = ("classic/dry_brush", "classic/pen", "classic/charcoal", "classic/marker_small")


def _unit():
    return st.floats(0, 1, allow_nan=False)


def colors() -> st.SearchStrategy[A.Color]:
    """Colours, both 8-bit exact (printed ``#rrggbb``) and arbitrary (printed ``rgb(...)``)."""
    byte = st.integers(0, 255).map(lambda k: k / 255)
    return st.one_of(st.builds(A.Color, byte, byte, byte), st.builds(A.Color, _unit(), _unit(), _unit()))


def _points(canvas: float, grid: int | None = None):
    if grid is not None:  # on-grid points, what an action can express
        step = canvas / grid
        return st.builds(lambda i, j: A.Point(i * step, j * step), st.integers(0, grid), st.integers(0, grid))
    coord = st.floats(0, canvas, allow_nan=False)
    return st.builds(A.Point, coord, coord)


def headers(domain: str) -> st.SearchStrategy[A.Header]:
    """Headers with a random subset of settings spelled out."""
    if domain == "paint":
        options = {"canvas": st.sampled_from([32, 64, 128]), "grid": st.sampled_from([8, 16, 32]),
                   "brush": st.sampled_from(BRUSHES), "background": colors()}
    else:
        options = {"canvas": st.sampled_from([32, 64, 128]), "grid": st.sampled_from([4, 8, 16]),
                   "objects": st.integers(5, 64)}
    return st.fixed_dictionaries({}, optional=options).map(
        lambda d: A.Header(domain, tuple(sorted(d.items()))))


def statements(domain: str = "paint", settings: dict | None = None, on_grid: bool = False):
    """One valid core statement for ``settings`` (defaults of ``domain`` when omitted)."""
    s = {**DEFAULTS[domain], **(settings or {})}
    if domain == "scene":
        cell = st.tuples(st.integers(0, s["grid"] - 1), st.integers(0, s["grid"] - 1))
        return st.builds(A.Place, st.sampled_from(A.SHAPES), cell, st.sampled_from(A.SIZE_CLASSES), colors())
    canvas = s["canvas"]
    pts = _points(canvas, s["grid"] if on_grid else None)
    size = st.floats(0.25, canvas / 4, allow_nan=False)
    return st.one_of(
        st.builds(A.Move, pts),
        st.builds(A.Stroke, pts, pts, _unit(), size, colors()),
    )


# ----------------------------------------------------------------------------- sugar
def _num(v: float) -> A.Number:
    return A.Number(float(v))


def _plit(p: A.Point) -> A.PointExpr:
    return A.PointExpr(_num(p.x), _num(p.y))


@st.composite
def _sugar_paint(draw, header: A.Header, max_statements: int):
    settings = {**DEFAULTS["paint"], **dict(header.settings)}
    canvas = settings["canvas"]
    pts = _points(canvas)
    body: list = []
    points: list[str] = []   # names bound to in-range points
    cols: list[str] = []     # names bound to colours
    nums: list[str] = []     # names bound to numbers in [0, 1]

    def point_expr():
        options = [lambda: _plit(draw(pts))]
        if points:
            options.append(lambda: A.Name(draw(st.sampled_from(points))))
            options.append(lambda: A.CallExpr("lerp", (A.Name(draw(st.sampled_from(points))),
                                                       _plit(draw(pts)), _num(draw(_unit())))))
            options.append(lambda: A.BinOp("/", A.BinOp("+", A.Name(draw(st.sampled_from(points))),
                                                        _plit(draw(pts))), _num(2)))
        return draw(st.sampled_from(options))()

    def unit_expr():
        options = [lambda: _num(draw(_unit()))]
        if nums:
            options.append(lambda: A.Name(draw(st.sampled_from(nums))))
            options.append(lambda: A.BinOp("*", A.Name(draw(st.sampled_from(nums))), _num(draw(_unit()))))
        return draw(st.sampled_from(options))()

    def color_expr():
        options = [lambda: A.ColorLit(draw(colors()))]
        if cols:
            options.append(lambda: A.Name(draw(st.sampled_from(cols))))
            options.append(lambda: A.CallExpr("mix", (A.Name(draw(st.sampled_from(cols))),
                                                      A.ColorLit(draw(colors())), unit_expr())))
        options.append(lambda: A.RgbExpr(unit_expr(), unit_expr(), A.BinOp("-", _num(1), unit_expr())))
        return draw(st.sampled_from(options))()

    def size_expr():
        return A.BinOp("+", _num(draw(st.floats(0.5, 4, allow_nan=False))), unit_expr())

    def drawing_stmt():
        if draw(st.booleans()):
            return A.fold(A.MoveStmt(point_expr()))
        via = point_expr() if draw(st.booleans()) else None
        return A.fold(A.StrokeStmt(point_expr(), via, unit_expr(), size_expr(), color_expr()))

    n = draw(st.integers(1, max(1, max_statements)))
    emitted = 0
    counter = 0
    while emitted < n:
        counter += 1
        kind = draw(st.sampled_from(["let", "draw", "def", "repeat", "core"]))
        if kind == "let":
            name = f"v{counter}"
            what = draw(st.sampled_from(["point", "color", "num"]))
            if what == "point":
                body.append(A.Let(name, point_expr()))
                points.append(name)
            elif what == "color":
                body.append(A.Let(name, color_expr()))
                cols.append(name)
            else:
                body.append(A.Let(name, unit_expr()))
                nums.append(name)
        elif kind == "draw":
            body.append(drawing_stmt())
            emitted += 1
        elif kind == "core":
            body.append(draw(statements("paint", settings)))
            emitted += 1
        elif kind == "def":
            name = f"f{counter}"
            params = (A.Param("at", "Point"), A.Param("t", "Num"), A.Param("c", "Color"))
            inner = (A.MoveStmt(A.Name("at")),
                     A.StrokeStmt(A.CallExpr("lerp", (A.Name("at"), _plit(draw(pts)), A.Name("t"))),
                                  None, A.Name("t"), _num(1), A.Name("c")))
            body.append(A.Def(name, params, inner))
            body.append(A.CallStmt(name, (point_expr(), unit_expr(), color_expr())))
            emitted += 2
        else:
            count = draw(st.integers(0, 3))
            var = f"k{counter}"
            a, b = draw(pts), draw(pts)
            at = A.CallExpr("lerp", (_plit(a), _plit(b), A.BinOp("/", A.Name(var), _num(count + 1))))
            body.append(A.Repeat(var, _num(0), _num(count), (
                A.StrokeStmt(at, None, unit_expr(), size_expr(), color_expr()),)))
            emitted += count
    return Program(header, body)


@st.composite
def _sugar_scene(draw, header: A.Header, max_statements: int):
    settings = {**DEFAULTS["scene"], **dict(header.settings)}
    grid, limit = settings["grid"], min(settings["objects"], max(1, max_statements))
    body: list = []
    n = draw(st.integers(1, limit))
    cols: list[str] = []
    if draw(st.booleans()):
        body.append(A.Let("base", A.ColorLit(draw(colors()))))
        cols.append("base")
    placed = 0
    while placed < n:
        color = A.Name("base") if cols and draw(st.booleans()) else A.ColorLit(draw(colors()))
        if draw(st.booleans()) and n - placed >= 2:
            count = draw(st.integers(1, min(n - placed, grid)))
            row = draw(st.integers(0, grid - 1))
            body.append(A.Repeat("k", _num(0), _num(count), (
                A.PlaceStmt(draw(st.sampled_from(A.SHAPES)), A.PointExpr(A.Name("k"), _num(row)),
                            draw(st.sampled_from(A.SIZE_CLASSES)), color),)))
            placed += count
        else:
            i, j = draw(st.integers(0, grid - 1)), draw(st.integers(0, grid - 1))
            body.append(A.fold(A.PlaceStmt(draw(st.sampled_from(A.SHAPES)), A.PointExpr(_num(i), _num(j)),
                                           draw(st.sampled_from(A.SIZE_CLASSES)), color)))
            placed += 1
    return Program(header, body)


@st.composite
def programs(draw, domain: str | None = None, core_only: bool = False, max_statements: int = 20):
    """Valid, checked programs of ``domain`` (drawn when ``None``); core-only or with sugar."""
    domain = domain or draw(st.sampled_from(A.DOMAINS))
    header = draw(headers(domain))
    if core_only or not draw(st.booleans()):  # the simplest example is a core program
        settings = {**DEFAULTS[domain], **dict(header.settings)}
        limit = max_statements if domain == "paint" else min(max_statements, settings["objects"])
        body = draw(st.lists(statements(domain, settings), max_size=limit))
        return Program(header, body)
    if domain == "paint":
        return draw(_sugar_paint(header, max_statements))
    return draw(_sugar_scene(header, max_statements))
