"""The JSON form of a program: ``{"spl": 1, "header": ..., "body": [...]}``.

Every AST node is an object ``{"node": "<ClassName>", <field>: <value>, ...}`` so the full
surface program (``let``, ``def``, ``repeat``, expressions) survives a round trip. Spans are
not stored. The schema version ``spl`` must be 1.
"""
from __future__ import annotations

import dataclasses

from . import ast as A
from .errors import SplSyntaxError

__all__ = ["SCHEMA_VERSION", "to_obj", "from_obj", "encode", "decode"]

SCHEMA_VERSION = 1
_NODES = {cls.__name__: cls for cls in (
    A.Point, A.Color, A.Move, A.Stroke, A.Place, A.Header, A.Number, A.Name, A.PointExpr,
    A.ColorLit, A.RgbExpr, A.Neg, A.BinOp, A.CallExpr, A.MoveStmt, A.StrokeStmt, A.PlaceStmt,
    A.Let, A.Param, A.Def, A.CallStmt, A.Repeat)}
_TUPLE_FIELDS = {("Place", "cell"), ("Header", "settings")}


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


def decode(data, where: str = "program"):
    """Plain JSON data back to an AST node; :class:`SplSyntaxError` on anything malformed."""
    if isinstance(data, dict):
        name = data.get("node")
        cls = _NODES.get(name)
        if cls is None:
            raise SplSyntaxError(f"invalid JSON program: unknown node {name!r} at {where}")
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name == "span":
                continue
            if f.name not in data:
                raise SplSyntaxError(f"invalid JSON program: {name} at {where} lacks {f.name!r}")
            v = decode(data[f.name], f"{where}.{f.name}")
            if isinstance(v, list):
                v = tuple(tuple(x) if isinstance(x, list) else x for x in v) \
                    if (name, f.name) in _TUPLE_FIELDS else tuple(v)
            kwargs[f.name] = v
        extra = set(data) - set(kwargs) - {"node"}
        if extra:
            raise SplSyntaxError(f"invalid JSON program: {name} at {where} has unknown "
                                 f"fields {sorted(extra)}")
        return cls(**kwargs)
    if isinstance(data, list):
        return [decode(v, f"{where}[{i}]") for i, v in enumerate(data)]
    if data is None or isinstance(data, (str, int, float, bool)):
        return data
    raise SplSyntaxError(f"invalid JSON program: unexpected {type(data).__name__} at {where}")


def to_obj(header: A.Header, body, metadata=None) -> dict:
    obj = {"spl": SCHEMA_VERSION, "header": encode(header), "body": encode(body)}
    if metadata:
        obj["metadata"] = dict(metadata)
    return obj


def from_obj(obj):
    """``(header, body, metadata)`` from the JSON form (already ``json.loads``-ed)."""
    if not isinstance(obj, dict) or "spl" not in obj:
        raise SplSyntaxError("invalid JSON program: expected an object with \"spl\": 1")
    if obj["spl"] != SCHEMA_VERSION:
        raise SplSyntaxError(f"unsupported JSON program version spl={obj['spl']!r}; "
                             f"this version reads spl={SCHEMA_VERSION}")
    header = decode(obj.get("header"), "header")
    if not isinstance(header, A.Header):
        raise SplSyntaxError("invalid JSON program: 'header' must be a Header node")
    body = decode(obj.get("body", []), "body")
    if not isinstance(body, list):
        raise SplSyntaxError("invalid JSON program: 'body' must be a list")
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        raise SplSyntaxError("invalid JSON program: 'metadata' must be an object")
    return header, tuple(body), metadata
