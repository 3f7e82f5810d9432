"""The JSON form of a program: ``{"spl": 1, "header": ..., "body": [...], "metadata": {...}}``.

Every AST node is an object ``{"node": "<ClassName>", <field>: <value>, ...}`` so the full
surface program (``let``, ``def``, ``repeat``, expressions) survives a round trip. Spans are
not stored. The schema version ``spl`` must be the integer 1. Expressions are read into the
parser's normal form (:func:`spiral_dsl.ast.fold_expr`).

Reading is strict: every field has one expected shape (:data:`_FIELDS`), checked before a
node is built, so a malformed document is one :class:`SplSyntaxError` naming its JSON path
(``body[2].value.left``), never a Python error and never a program that prints as something
else. Nesting is bounded by ``LIMITS.nesting`` (counted as in the text: expression nodes,
``def`` and ``repeat``) and the text by ``LIMITS.source_bytes``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re

from . import ast as A
from .errors import SplLimitError, SplSyntaxError
from .limits import LIMITS

__all__ = ["SCHEMA_VERSION", "to_obj", "from_obj", "encode", "decode", "loads"]

SCHEMA_VERSION = 1
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Shapes of fields. A node field names the classes it accepts.
_EXPRS = ("Number", "Name", "PointExpr", "ColorLit", "RgbExpr", "Neg", "BinOp", "CallExpr")
_STATEMENTS = ("Move", "Stroke", "Place", "MoveStmt", "StrokeStmt", "PlaceStmt", "Let", "Def",
               "CallStmt", "Repeat")
_NUMBER, _NAME_FIELD, _CELL, _SETTINGS = "number", "name", "cell", "settings"
_EXPR, _EXPR_OR_NULL, _EXPR_LIST = ("node", _EXPRS), ("node?", _EXPRS), ("list", _EXPRS)
_POINT, _COLOR = ("node", ("Point",)), ("node", ("Color",))
_BODY, _PARAMS = ("list", _STATEMENTS), ("list", ("Param",))


def _choice(*values):
    return ("choice", values)


#: node class → {field: shape}; the fields are exactly the dataclass fields but ``span``.
_FIELDS = {
    "Point": {"x": _NUMBER, "y": _NUMBER},
    "Color": {"r": _NUMBER, "g": _NUMBER, "b": _NUMBER},
    "Move": {"to": _POINT},
    "Stroke": {"to": _POINT, "via": _POINT, "pressure": _NUMBER, "size": _NUMBER,
               "color": _COLOR},
    "Place": {"shape": _NAME_FIELD, "cell": _CELL, "size": _NAME_FIELD, "color": _COLOR},
    "Header": {"domain": _choice(*A.DOMAINS), "settings": _SETTINGS},
    "Number": {"value": _NUMBER},
    "Name": {"id": _NAME_FIELD},
    "PointExpr": {"x": _EXPR, "y": _EXPR},
    "ColorLit": {"color": _COLOR},
    "RgbExpr": {"r": _EXPR, "g": _EXPR, "b": _EXPR},
    "Neg": {"operand": _EXPR},
    "BinOp": {"op": _choice("+", "-", "*", "/"), "left": _EXPR, "right": _EXPR},
    "CallExpr": {"func": _choice(*A.BUILTINS), "args": _EXPR_LIST},
    "MoveStmt": {"to": _EXPR},
    "StrokeStmt": {"to": _EXPR, "via": _EXPR_OR_NULL, "pressure": _EXPR, "size": _EXPR,
                   "color": _EXPR},
    "PlaceStmt": {"shape": _NAME_FIELD, "cell": _EXPR, "size": _NAME_FIELD, "color": _EXPR},
    "Let": {"name": _NAME_FIELD, "value": _EXPR},
    "Param": {"name": _NAME_FIELD, "type": _NAME_FIELD},
    "Def": {"name": _NAME_FIELD, "params": _PARAMS, "body": _BODY},
    "CallStmt": {"name": _NAME_FIELD, "args": _EXPR_LIST},
    "Repeat": {"var": _NAME_FIELD, "start": _EXPR, "end": _EXPR, "body": _BODY},
}
_CLASSES = {name: getattr(A, name) for name in _FIELDS}
#: Nodes that count one level of ``LIMITS.nesting`` (as their rules do in the text).
_NESTING = frozenset({"PointExpr", "RgbExpr", "Neg", "BinOp", "CallExpr", "Def", "Repeat"})


def encode(value):
    """An AST node (or value) as plain JSON data."""
    if dataclasses.is_dataclass(value):
        out = {"node": type(value).__name__}
        for f in dataclasses.fields(value):
            if f.name != "span":
                out[f.name] = encode(getattr(value, f.name))
        return out
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    return value


class _Decoder:
    """Validates and builds, one JSON path at a time."""

    def __init__(self, filename: str):
        self.filename = filename

    def fail(self, where: str, what: str):
        raise SplSyntaxError(f"invalid JSON program at {where}: {what}", filename=self.filename)

    def number(self, v, where: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.fail(where, f"expected a number, got {_describe(v)}")
        try:
            x = float(v)
        except OverflowError:
            x = math.inf
        if not math.isfinite(x):
            self.fail(where, "expected a finite number")
        return x

    def name(self, v, where: str) -> str:
        if not (isinstance(v, str) and _NAME.match(v)):
            self.fail(where, f"expected a name like 'ink' ([A-Za-z_][A-Za-z0-9_]*), "
                             f"got {_describe(v)}")
        return v

    def string(self, v, where: str) -> str:
        if not isinstance(v, str):
            self.fail(where, f"expected a string, got {_describe(v)}")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            self.fail(where, "the string holds a lone surrogate (\\ud800-\\udfff)")
        return v

    def node(self, v, where: str, classes: tuple, depth: int):
        if not isinstance(v, dict):
            self.fail(where, f"expected {_wanted(classes)}, got {_describe(v)}")
        kind = v.get("node")
        if not isinstance(kind, str) or kind not in classes:
            got = (f'"node": {_describe(kind)}' if not isinstance(kind, str) else
                   f"a {kind} node" if kind in _FIELDS else f"unknown node {kind!r}")
            self.fail(where, f"expected {_wanted(classes)}, got {got}")
        fields = _FIELDS[kind]
        if kind in _NESTING:
            depth += 1
            if depth > LIMITS.nesting:
                raise SplLimitError(f"invalid JSON program at {where}: nesting deeper than "
                                    f"nesting={LIMITS.nesting} (a limit, see "
                                    "docs/language.md#limits)", filename=self.filename)
        extra = sorted(set(v) - set(fields) - {"node"}, key=str)
        if extra:
            self.fail(where, f"{kind} has unknown fields {extra}; its fields are "
                             f"{sorted(fields)}")
        kwargs = {}
        for field, shape in fields.items():
            if field not in v:
                self.fail(where, f"{kind} lacks its field {field!r}")
            kwargs[field] = self.value(v[field], f"{where}.{field}", shape, depth)
        node = _CLASSES[kind](**kwargs)
        # the parser's normal form (``-3`` is a number, ``rgb`` of numbers a colour literal),
        # so that printing and parsing a loaded program gives it back
        return A.fold_expr(node) if kind in ("Neg", "RgbExpr") else node

    def value(self, v, where: str, shape, depth: int):
        if shape == _NUMBER:
            return self.number(v, where)
        if shape == _NAME_FIELD:
            return self.name(v, where)
        if shape == _CELL:
            if not (isinstance(v, list) and len(v) == 2
                    and all(type(c) is int for c in v)):
                self.fail(where, f"expected a cell [i, j] of two integers, got {_describe(v)}")
            return (v[0], v[1])
        if shape == _SETTINGS:
            return self.settings(v, where, depth)
        kind, options = shape
        if kind == "choice":
            if not (isinstance(v, str) and v in options):
                self.fail(where, f"expected one of {', '.join(map(repr, options))}, "
                                 f"got {_describe(v)}")
            return v
        if kind == "node?" and v is None:
            return None
        if kind in ("node", "node?"):
            return self.node(v, where, options, depth)
        if not isinstance(v, list):  # "list"
            self.fail(where, f"expected a list of {_wanted(options)}s, got {_describe(v)}")
        return tuple(self.node(x, f"{where}[{i}]", options, depth) for i, x in enumerate(v))

    def settings(self, v, where: str, depth: int) -> tuple:
        if not isinstance(v, list):
            self.fail(where, f"expected a list of [name, value] pairs, got {_describe(v)}")
        out = {}
        for i, pair in enumerate(v):
            at = f"{where}[{i}]"
            if not (isinstance(pair, list) and len(pair) == 2):
                self.fail(at, f"expected a [name, value] pair, got {_describe(pair)}")
            key = self.name(pair[0], f"{at}[0]")
            if key in out:
                self.fail(at, f"setting {key!r} given twice")
            value = pair[1]
            if isinstance(value, dict):
                out[key] = self.node(value, f"{at}[1]", ("Color",), depth)
            elif isinstance(value, str):
                out[key] = self.string(value, f"{at}[1]")
            else:
                out[key] = self.number(value, f"{at}[1]")
        return tuple(sorted(out.items()))


def _wanted(classes: tuple) -> str:
    group = {_EXPRS: "an expression", _STATEMENTS: "a statement"}.get(classes)
    names = ", ".join(classes)
    return f"{group} node ({names})" if group else f"a {' or '.join(classes)} node"


def _describe(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return f"{'an object' if isinstance(v, dict) else 'a list'} of {len(v)} entries"
    text = repr(v)
    return f"{type(v).__name__} {text if len(text) <= 40 else text[:30] + '...'}"


def decode(data, where: str = "program", filename: str = "<json>"):
    """One JSON node (an expression, statement, header or value) back to its AST node;
    :class:`SplSyntaxError` naming the JSON path on anything malformed. A list decodes to a
    tuple of statements."""
    d = _Decoder(filename)
    if isinstance(data, list):
        return d.value(data, where, _BODY, 0)
    return d.node(data, where, tuple(_FIELDS), 0)


def loads(text, filename: str = "<json>"):
    """``json.loads`` bounded by ``LIMITS.source_bytes``, its errors as :class:`SplError`\\ s
    (syntax errors at their line and column)."""
    if len(text) > LIMITS.source_bytes:
        raise SplLimitError(f"the JSON text has {len(text):,} characters, more than "
                            f"source_bytes={LIMITS.source_bytes:,} (a limit, see "
                            "docs/language.md#limits)", filename=filename)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SplSyntaxError(f"invalid JSON: {e.msg}", filename=filename, line=e.lineno,
                             column=e.colno) from None
    except RecursionError:
        raise SplLimitError(f"invalid JSON program: nested too deeply (deeper than "
                            f"nesting={LIMITS.nesting}, a limit, see docs/language.md#limits)",
                            filename=filename) from None
    except (ValueError, TypeError) as e:  # not UTF-8 bytes, an integer of over 4,300 digits
        raise SplSyntaxError(f"invalid JSON: {e}", filename=filename) from None


def to_obj(header: A.Header, body, metadata=None) -> dict:
    obj = {"spl": SCHEMA_VERSION, "header": encode(header), "body": encode(body)}
    if metadata:
        obj["metadata"] = dict(metadata)
    return obj


def from_obj(obj, filename: str = "<json>"):
    """``(header, body, metadata)`` from the JSON form (already ``json.loads``-ed)."""
    d = _Decoder(filename)
    if not isinstance(obj, dict):
        d.fail("the top level", f'expected an object {{"spl": 1, "header": ..., "body": [...]}}, '
                                f"got {_describe(obj)}")
    version = obj.get("spl")
    if type(version) is not int:
        d.fail("spl", f"expected the schema version {SCHEMA_VERSION} (an integer), "
                      f"got {_describe(version)}")
    if version != SCHEMA_VERSION:
        raise SplSyntaxError(f"unsupported JSON program version spl={version!r}; "
                             f"this version reads spl={SCHEMA_VERSION}", filename=filename)
    extra = sorted(set(obj) - {"spl", "header", "body", "metadata"}, key=str)
    if extra:
        d.fail("the top level", f"unknown keys {extra}; the keys are spl, header, body and "
                                "metadata")
    for key in ("header", "body"):
        if key not in obj:
            d.fail("the top level", f"lacks {key!r}")
    header = d.node(obj["header"], "header", ("Header",), 0)
    body = d.value(obj["body"], "body", _BODY, 0)
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        d.fail("metadata", f"expected an object of strings, got {_describe(metadata)}")
    for key, value in metadata.items():
        d.string(value, f"metadata[{key!r}]")
        d.string(key, f"metadata key {key!r}")
    return header, body, dict(metadata)
