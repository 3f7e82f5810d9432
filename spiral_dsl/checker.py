"""Static checks: settings, names, types, arity, recursion and domain of every statement.

Types are ``Num``, ``Point``, ``Color`` (values) plus ``Shape`` and ``SizeClass`` (the keyword
slots of ``place``). Names are visible after their definition until the end of their block;
a name may be defined once per block (an inner block may shadow). Definitions are not
recursive: a ``def`` cannot call itself (later definitions are not yet visible, so mutual
recursion cannot be written). Value ranges are checked by lowering, where values are known.
A ``brush`` setting must name a brush of the brush library (:mod:`spiral_dsl.brushes`), so an
unknown brush is an error here, at the setting, not when rendering. Nesting is bounded by
``LIMITS.nesting`` here too (the parser and the JSON reader bound it first for their inputs),
so a deep program built in Python is a :class:`SplLimitError`, not a ``RecursionError`` in a
later pass.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import ast as A
from .brushes import check_brush_name
from .errors import SplError, SplLimitError, SplNameError, SplRangeError, SplTypeError
from .limits import LIMITS
from .settings import DEFAULTS, INT_RANGES

__all__ = ["check", "check_settings", "infer"]

NUM, POINT, COLOR = "Num", "Point", "Color"


@dataclass(frozen=True)
class Signature:
    name: str
    params: tuple[A.Param, ...]


class _Scope:
    def __init__(self, parent: _Scope | None = None):
        self.parent = parent
        self.names: dict[str, object] = {}  # name → type string or Signature

    def lookup(self, name: str):
        scope = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def visible(self) -> list[str]:
        out, scope = set(), self
        while scope is not None:
            out.update(scope.names)
            scope = scope.parent
        return sorted(out)

    def define(self, name: str, value, span) -> None:
        if name in A.BUILTINS or name in ("rgb",):
            raise SplNameError(f"{name!r} is a builtin and cannot be redefined").at(span)
        if name in self.names:
            raise SplNameError(f"{name!r} is already defined in this block").at(span)
        self.names[name] = value


def check_settings(header: A.Header, spans: dict | None = None) -> dict:
    """Validate the header's settings; return them normalised (ints for integer settings)."""
    spans = spans or {}
    defaults = DEFAULTS[header.domain]
    out = {}
    for key, value in header.settings:
        span = spans.get(key, header.span)
        if key not in defaults:
            raise SplNameError(f"unknown setting {key!r} for {header.domain}; "
                               f"valid settings: {', '.join(defaults)}").at(span)
        want = defaults[key]
        if isinstance(want, int):
            if isinstance(value, (str, A.Color)) or not float(value).is_integer():
                raise SplTypeError(f"setting {key}={value!r} must be an integer").at(span)
            lo, hi = INT_RANGES[key]
            if not lo <= value <= hi:
                raise SplRangeError(f"setting {key}={value:g} is out of range [{lo}, {hi}]").at(span)
            value = int(value)
        elif isinstance(want, str) and not isinstance(value, str):
            raise SplTypeError(f"setting {key} must be a string like \"{want}\"").at(span)
        elif key == "brush":
            try:
                check_brush_name(value)
            except SplError as e:
                raise e.at(span) from None
        elif isinstance(want, A.Color):
            if not isinstance(value, A.Color):
                raise SplTypeError(f"setting {key} must be a colour like #ffffff").at(span)
            for comp in value:
                if not (math.isfinite(comp) and 0 <= comp <= 1):
                    raise SplRangeError(f"setting {key}: colour component {comp!r} "
                                        "is out of range [0, 1]").at(span)
        out[key] = value
    if header.domain == "paint":
        canvas = out.get("canvas", defaults["canvas"])
        grid = out.get("grid", defaults["grid"])
        if grid > canvas:
            raise SplRangeError(f"grid={grid} exceeds canvas={canvas}; "
                                f"grid must be in [1, {canvas}]").at(spans.get("grid", header.span))
    return out


def check(header: A.Header, body, setting_spans: dict | None = None) -> None:
    """Raise the first static error in the program, positioned at its source."""
    if header.domain not in A.DOMAINS:
        raise SplTypeError(f"unknown domain {header.domain!r}; valid: {', '.join(A.DOMAINS)}").at(header.span)
    check_settings(header, setting_spans)
    _Checker(header.domain).block(body, _Scope(), current_def=())


def _deeper(depth: int, span) -> int:
    depth += 1
    if depth > LIMITS.nesting:
        raise SplLimitError(f"nesting deeper than nesting={LIMITS.nesting} (a limit, see "
                            "docs/language.md#limits)").at(span)
    return depth


class _Checker:
    def __init__(self, domain: str):
        self.domain = domain
        self.depth = 0  # blocks (def, repeat) around the statement being checked

    def block(self, body, scope: _Scope, current_def: tuple) -> None:
        """``current_def``: the signatures of the definitions being checked, outermost first."""
        for stmt in body:
            self.statement(stmt, scope, current_def)

    def _domain(self, stmt, want: str, what: str) -> None:
        if self.domain != want:
            raise SplTypeError(f"'{what}' is a {want} statement and cannot appear in a "
                               f"{self.domain} program").at(stmt.span)

    def _expect(self, expr, want: str, scope: _Scope, what: str) -> None:
        got = infer(expr, scope, self.depth)
        if got != want:
            raise SplTypeError(f"{what} must be a {want}, not a {got}").at(expr.span)

    def statement(self, s, scope: _Scope, current_def: tuple) -> None:
        if isinstance(s, (A.Move, A.MoveStmt)):
            self._domain(s, "paint", "move")
            if isinstance(s, A.MoveStmt):
                self._expect(s.to, POINT, scope, "move target")
        elif isinstance(s, (A.Stroke, A.StrokeStmt)):
            self._domain(s, "paint", "stroke")
            if isinstance(s, A.StrokeStmt):
                if s.via is not None:
                    self._expect(s.via, POINT, scope, "stroke control point (via)")
                self._expect(s.to, POINT, scope, "stroke end point (to)")
                self._expect(s.pressure, NUM, scope, "pressure")
                self._expect(s.size, NUM, scope, "size")
                self._expect(s.color, COLOR, scope, "color")
        elif isinstance(s, (A.Place, A.PlaceStmt)):
            self._domain(s, "scene", "place")
            if s.shape not in A.SHAPES:
                raise SplTypeError(f"unknown shape {s.shape!r}; valid shapes: "
                                   f"{', '.join(A.SHAPES)}").at(s.span)
            if s.size not in A.SIZE_CLASSES:
                raise SplTypeError(f"unknown size {s.size!r}; valid sizes: "
                                   f"{', '.join(A.SIZE_CLASSES)}").at(s.span)
            if isinstance(s, A.PlaceStmt):
                self._expect(s.cell, POINT, scope, "cell")
                self._expect(s.color, COLOR, scope, "color")
        elif isinstance(s, A.Let):
            value_type = infer(s.value, scope, self.depth)
            scope.define(s.name, value_type, s.span)
        elif isinstance(s, A.Def):
            seen = set()
            inner = _Scope(scope)
            for p in s.params:
                if p.type not in A.PARAM_TYPES:
                    raise SplTypeError(f"unknown type {p.type!r} for parameter {p.name!r}; "
                                       f"valid types: {', '.join(A.PARAM_TYPES)}").at(p.span)
                if p.name in seen:
                    raise SplNameError(f"parameter {p.name!r} given twice").at(p.span)
                seen.add(p.name)
                inner.define(p.name, p.type, p.span)
            signature = Signature(s.name, s.params)
            scope.define(s.name, signature, s.span)
            # the def's own name is visible in its body so that a call to it (or to any
            # enclosing definition) is reported as recursion rather than as an undefined name
            outer, self.depth = self.depth, _deeper(self.depth, s.span)
            self.block(s.body, inner, current_def=current_def + (signature,))
            self.depth = outer
        elif isinstance(s, A.CallStmt):
            sig = scope.lookup(s.name)
            if any(sig is d for d in current_def):
                raise SplNameError(f"{s.name!r} calls itself; definitions cannot be "
                                   "recursive").at(s.span)
            if sig is None:
                raise SplNameError(_undefined(s.name, scope, "definition")).at(s.span)
            if not isinstance(sig, Signature):
                raise SplTypeError(f"{s.name!r} is a {sig}, not a definition; it cannot be "
                                   "called").at(s.span)
            if len(s.args) != len(sig.params):
                raise SplTypeError(f"{s.name}() takes {len(sig.params)} argument"
                                   f"{'s' if len(sig.params) != 1 else ''}, got {len(s.args)}").at(s.span)
            for arg, p in zip(s.args, sig.params):
                self._expect(arg, p.type, scope, f"argument {p.name!r} of {s.name}()")
        elif isinstance(s, A.Repeat):
            outer, self.depth = self.depth, _deeper(self.depth, s.span)
            self._expect(s.start, NUM, scope, "repeat start")
            self._expect(s.end, NUM, scope, "repeat end")
            inner = _Scope(scope)
            inner.define(s.var, NUM, s.span)
            self.block(s.body, inner, current_def)
            self.depth = outer
        else:
            raise SplTypeError(f"not a statement: {type(s).__name__}").at(getattr(s, "span", None))


def _undefined(name: str, scope: _Scope, what: str) -> str:
    import difflib
    close = difflib.get_close_matches(name, scope.visible(), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"undefined {what} {name!r}{hint}"


_BINOP_TYPES = {
    ("+", NUM, NUM): NUM, ("-", NUM, NUM): NUM, ("*", NUM, NUM): NUM, ("/", NUM, NUM): NUM,
    ("+", POINT, POINT): POINT, ("-", POINT, POINT): POINT,
    ("*", POINT, NUM): POINT, ("*", NUM, POINT): POINT, ("/", POINT, NUM): POINT,
}


_NESTING = (A.PointExpr, A.RgbExpr, A.Neg, A.BinOp, A.CallExpr)


def infer(e, scope: _Scope, depth: int = 0) -> str:
    """The type of expression ``e`` in ``scope``, ``depth`` levels deep already; raise on a
    type or name error, or past ``LIMITS.nesting``."""
    if isinstance(e, _NESTING):
        depth = _deeper(depth, e.span)
    if isinstance(e, A.Number):
        return NUM
    if isinstance(e, A.ColorLit):
        return COLOR
    if isinstance(e, A.Name):
        t = scope.lookup(e.id)
        if t is None:
            raise SplNameError(_undefined(e.id, scope, "name")).at(e.span)
        if isinstance(t, Signature):
            raise SplTypeError(f"{e.id!r} is a definition, not a value").at(e.span)
        return t
    if isinstance(e, A.PointExpr):
        for comp, axis in ((e.x, "x"), (e.y, "y")):
            got = infer(comp, scope, depth)
            if got != NUM:
                raise SplTypeError(f"point {axis} coordinate must be a Num, not a {got}").at(comp.span)
        return POINT
    if isinstance(e, A.RgbExpr):
        for comp in (e.r, e.g, e.b):
            got = infer(comp, scope, depth)
            if got != NUM:
                raise SplTypeError(f"rgb() component must be a Num, not a {got}").at(comp.span)
        return COLOR
    if isinstance(e, A.Neg):
        t = infer(e.operand, scope, depth)
        if t == COLOR:
            raise SplTypeError("cannot negate a Color").at(e.span)
        return t
    if isinstance(e, A.BinOp):
        lt, rt = infer(e.left, scope, depth), infer(e.right, scope, depth)
        out = _BINOP_TYPES.get((e.op, lt, rt))
        if out is None:
            raise SplTypeError(f"cannot apply {e.op!r} to {lt} and {rt}").at(e.span)
        return out
    if isinstance(e, A.CallExpr):
        types = [infer(a, scope, depth) for a in e.args]
        if e.func == "lerp":
            if len(types) != 3:
                raise SplTypeError(f"lerp() takes 3 arguments (p, q, t), got {len(types)}").at(e.span)
            if types[2] != NUM or types[0] != types[1] or types[0] not in (NUM, POINT):
                raise SplTypeError(f"lerp() takes (Point, Point, Num) or (Num, Num, Num), "
                                   f"got ({', '.join(types)})").at(e.span)
            return types[0]
        if e.func == "mix":
            if len(types) != 3:
                raise SplTypeError(f"mix() takes 3 arguments (c1, c2, t), got {len(types)}").at(e.span)
            if types != [COLOR, COLOR, NUM]:
                raise SplTypeError(f"mix() takes (Color, Color, Num), got ({', '.join(types)})").at(e.span)
            return COLOR
        raise SplNameError(f"unknown builtin {e.func!r}").at(e.span)
    raise SplTypeError(f"not an expression: {type(e).__name__}").at(getattr(e, "span", None))
