"""Core statements as batch-first *values*, one array per statement field, and back.

A :class:`~spiral_dsl.interpreters.base.BatchCanvas` steps B canvases with values (paint:
``flag``, ``to``, ``via``, ``pressure``, ``size``, ``color``; scene: ``shape``, ``cell``,
``size``, ``color``); :meth:`spiral_dsl.actions.ActionSpec.values_of` makes them from action
indices, :func:`values_of_statements` from core statements (off the action grid too), and
:func:`statements_of_values` turns them back into statements (for backends that draw one
statement at a time).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from . import ast as A
from .errors import SplRangeError, SplTypeError

__all__ = ["values_of_statements", "statements_of_values"]

#: what a row carries in a field its statement lacks (a ``move``'s ``via``: its ``to``): finite
#: values that every BatchCanvas ignores
_FILL = {"pressure": 1.0, "brush_size": 1.0, "color": (0.0, 0.0, 0.0), "shape": 0,
         "size_class": 0, "cell": (0, 0)}


def _fields(domain: str) -> dict[str, str]:
    """``{field: kind}`` of the domain's values: ``flag`` (when the domain has several core
    statements), then every slot field of its core statements, in declaration order."""
    types = A.CORE_BY_DOMAIN[domain]
    kinds = {"flag": "flag"} if len(types) > 1 else {}
    for stmt_type in types:
        for f in dataclasses.fields(stmt_type):
            if "slot" in f.metadata:
                kinds.setdefault(f.name, f.metadata["kind"])
    return kinds


#: the trailing shape of a field's values, by kind (the rest are one number per row)
_WIDTH = {"location": (2,), "cell": (2,), "color": (3,)}


def values_of_statements(domain: str, statements):
    """B core statements of ``domain`` (one per canvas) as the batch-first values of
    :meth:`ActionSpec.values_of` (numpy: float64 numbers, int64 indices), off the action grid
    too. Fields a statement lacks are filled (a location with the statement's ``to``)."""
    import numpy as np
    types = A.CORE_BY_DOMAIN[domain]
    kinds = _fields(domain)
    columns: dict[str, list] = {name: [] for name in kinds}
    for st in statements:
        if type(st) not in types:
            raise SplTypeError(f"{type(st).__name__} is not a core statement of the {domain} domain")
        for name, column in columns.items():
            kind = kinds[name]
            if name == "flag":
                column.append(types.index(type(st)))
                continue
            value = getattr(st, name, None) if name in {f.name for f in dataclasses.fields(st)} else None
            if value is None:
                value = st.to if kind == "location" else _FILL[kind]
            if kind == "location":
                value = (value.x, value.y)
            elif kind == "shape":
                value = A.SHAPES.index(value)
            elif kind == "size_class":
                value = A.SIZE_CLASSES.index(value)
            elif kind == "color":
                value = tuple(value)
            column.append(value)
    integer = ("flag", "shape", "size_class", "cell")
    return {name: np.array(column, dtype=np.int64 if kinds[name] in integer else np.float64)
            for name, column in columns.items()}


def statements_of_values(domain: str, values: Mapping) -> list:
    """The inverse of :meth:`ActionSpec.values_of` and :func:`values_of_statements`: the B core
    statements of batch-first ``values`` (torch tensors or numpy arrays; float64 values give
    back the exact floats of the action grid). A missing field or a field of the wrong shape
    raises :class:`SplTypeError`."""
    import numpy as np
    types = A.CORE_BY_DOMAIN[domain]
    kinds = _fields(domain)
    missing = [name for name in kinds if name not in values]
    if missing:
        raise SplTypeError(f"step values lack the {domain} fields {missing}")
    arrays = {k: np.asarray(values[k].detach().cpu().numpy() if hasattr(values[k], "detach") else values[k])
              for k in kinds}
    first = next(iter(kinds))
    rows = arrays[first].shape[:1]
    for name, kind in kinds.items():
        shape = rows + _WIDTH.get(kind, ())
        if arrays[name].shape != shape:
            raise SplTypeError(f"{name} has shape {arrays[name].shape}; expected {shape}")
    names = {"flag": tuple(t.__name__.lower() for t in types), "shape": A.SHAPES, "size_class": A.SIZE_CLASSES}

    def choice(kind, name, v):                # an index into a named choice, range-checked
        k = int(v)
        if not 0 <= k < len(names[kind]):
            raise SplRangeError(f"{name}={k} is out of range [0, {len(names[kind]) - 1}]")
        return names[kind][k]

    batch = rows[0] if rows else 0
    out = []
    for b in range(batch):
        stmt_type = types[names["flag"].index(choice("flag", "flag", arrays["flag"][b]))] if len(types) > 1 else types[0]
        kwargs = {}
        for f in dataclasses.fields(stmt_type):
            if "slot" not in f.metadata:
                continue
            v, kind = arrays[f.name][b], f.metadata["kind"]
            if kind == "location":
                kwargs[f.name] = A.Point(float(v[0]), float(v[1]))
            elif kind == "color":
                kwargs[f.name] = A.Color(*(float(c) for c in v))
            elif kind == "cell":
                kwargs[f.name] = (int(v[0]), int(v[1]))
            elif kind in ("shape", "size_class"):
                kwargs[f.name] = choice(kind, f.name, v)
            else:
                kwargs[f.name] = float(v)
        out.append(stmt_type(**kwargs))
    return out
