"""The DSL as an action space: one action = one core statement.

:meth:`ActionSpec.for_domain` reads the core statements of a domain (``ast.CORE_BY_DOMAIN``)
and the slot metadata on their fields, so adding a statement or an argument to the language
adds an action slot; nothing here lists SPIRAL's slots by hand. A domain with several
statements gets a ``flag`` slot choosing which. Each slot is a discrete choice:

============  =========================================  =====================================
kind          values (index k)                           paint / scene default size
============  =========================================  =====================================
location      point (col, row) * canvas/grid, row-major  grid² (32² = 1024)
pressure      (k + 1) / bins                             10 bins: 0.1 .. 1.0
brush_size    sizes * canvas / 64                        {1, 2, 4, 8, 12, 24} at canvas 64
color         red/green/blue, k / (levels - 1) each      20 levels (paint), 4 (scene)
shape         ast.SHAPES[k]                              4
cell          (k % grid, k // grid)                      grid² (16² = 256)
size_class    ast.SIZE_CLASSES[k]                        3
============  =========================================  =====================================

Slot order is a networkx DAG (default: ``flag → end → control → size → pressure → red →
green → blue`` for paint); a policy decodes slots in its topological order, and a cycle is an
error. A statement uses only its own slots (a ``move`` uses ``flag`` and ``end``).

Batched code (training, search) steps a :class:`~spiral_dsl.interpreters.base.BatchCanvas`
with *values*, one batch-first array per statement field: :meth:`ActionSpec.values_of` turns
action indices into them (the one place that looks indices up); :mod:`spiral_dsl.values` turns
core statements into them and back.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from . import ast as A
from .errors import SplRangeError, SplTypeError
from .settings import DEFAULTS

__all__ = ["Slot", "ActionSpec", "PAINT_BRUSH_SIZES"]

PAINT_BRUSH_SIZES = (1, 2, 4, 8, 12, 24)  # radii at canvas 64 (SPIRAL's), scaled with canvas
PRESSURE_BINS = 10
PAINT_COLOR_LEVELS = 20
SCENE_COLOR_LEVELS = 4
_EPS = 1e-9


@dataclass(frozen=True)
class Slot:
    """One discrete action slot: ``n`` choices, each standing for ``values[k]``."""
    name: str
    kind: str
    values: tuple

    @property
    def n(self) -> int:
        return len(self.values)

    def index(self, value, snap: bool = False) -> int:
        """The index of ``value``; off-grid values raise unless ``snap`` picks the nearest."""
        if self.kind in ("shape", "size_class"):
            if value not in self.values:
                raise SplRangeError(f"{self.name}={value!r} is not one of {list(self.values)}")
            return self.values.index(value)
        if self.kind in ("location", "cell"):  # row-major grid: arithmetic, not a search
            step = self.values[1][0] - self.values[0][0] if self.n > 1 else 1.0
            grid = round(self.n ** 0.5)
            col = min(max(round(value[0] / step), 0), grid - 1)
            row = min(max(round(value[1] / step), 0), grid - 1)
            best = row * grid + col
        else:
            best = min(range(self.n), key=lambda k: _distance(self.values[k], value))
        if not snap and _distance(self.values[best], value) > _EPS:
            raise SplRangeError(f"{self.name}={_show(value)} is not on the action grid; nearest "
                                f"is {_show(self.values[best])} (pass snap=True to snap)")
        return best


def _distance(a, b) -> float:
    if isinstance(a, tuple):
        return max(abs(x - y) for x, y in zip(a, b))
    return abs(a - b)


def _show(v) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) + ")"
    return f"{v:g}" if isinstance(v, float) else repr(v)


def _make_slots(kind: str, name: str, domain: str, settings: Mapping) -> list[Slot]:
    canvas, grid = settings["canvas"], settings["grid"]
    if kind == "location":
        step = canvas / grid
        return [Slot(name, kind, tuple((c * step, r * step) for r in range(grid) for c in range(grid)))]
    if kind == "cell":
        return [Slot(name, kind, tuple((c, r) for r in range(grid) for c in range(grid)))]
    if kind == "pressure":
        return [Slot(name, kind, tuple((k + 1) / PRESSURE_BINS for k in range(PRESSURE_BINS)))]
    if kind == "brush_size":
        return [Slot(name, kind, tuple(s * canvas / 64 for s in PAINT_BRUSH_SIZES))]
    if kind == "color":
        levels = PAINT_COLOR_LEVELS if domain == "paint" else SCENE_COLOR_LEVELS
        values = tuple(k / (levels - 1) for k in range(levels))
        return [Slot(c, kind, values) for c in ("red", "green", "blue")]
    if kind == "shape":
        return [Slot(name, kind, A.SHAPES)]
    if kind == "size_class":
        return [Slot(name, kind, A.SIZE_CLASSES)]
    raise SplTypeError(f"no discretisation for slot kind {kind!r}")


class ActionSpec:
    """The discrete action space of a domain under given header settings."""

    def __init__(self, domain: str, settings: Mapping | None = None, order=None):
        import networkx as nx

        if domain not in A.CORE_BY_DOMAIN:
            raise SplTypeError(f"unknown domain {domain!r}; valid: {', '.join(A.CORE_BY_DOMAIN)}")
        self.domain = domain
        self.settings = MappingProxyType({**DEFAULTS[domain], **dict(settings or {})})
        self.statements = A.CORE_BY_DOMAIN[domain]
        slots: dict[str, Slot] = {}
        rank: dict[str, float] = {}
        uses: dict[type, tuple[str, ...]] = {}
        if len(self.statements) > 1:
            slots["flag"] = Slot("flag", "flag", tuple(t.__name__.lower() for t in self.statements))
            rank["flag"] = 0
        for stmt_type in self.statements:
            used = ["flag"] if "flag" in slots else []
            for f in dataclasses.fields(stmt_type):
                if "slot" not in f.metadata:
                    continue
                for k, slot in enumerate(_make_slots(f.metadata["kind"], f.metadata["slot"],
                                                     domain, self.settings)):
                    slots.setdefault(slot.name, slot)
                    rank.setdefault(slot.name, f.metadata["order"] + k / 10)
                    used.append(slot.name)
            uses[stmt_type] = tuple(used)
        self.slots = MappingProxyType(slots)
        self._uses = uses
        graph = nx.DiGraph()
        graph.add_nodes_from(slots)
        if order is None:  # the default: a chain in the fields' declared order
            chain = sorted(slots, key=rank.__getitem__)
            graph.add_edges_from(zip(chain, chain[1:]))
        else:
            edges = order.edges if isinstance(order, nx.DiGraph) else order
            for a, b in edges:
                for s in (a, b):
                    if s not in slots:
                        raise SplTypeError(f"slot order names unknown slot {s!r}; slots: {list(slots)}")
                graph.add_edge(a, b)
        if not nx.is_directed_acyclic_graph(graph):
            cycle = nx.find_cycle(graph)
            raise SplTypeError(f"slot order has a cycle: {' -> '.join(a for a, _ in cycle)} -> {cycle[0][0]}")
        self.graph = graph
        self.order: tuple[str, ...] = tuple(nx.lexicographical_topological_sort(
            graph, key=lambda s: (rank[s], s)))
        self._value_tables: dict = {}     # (slot, device) → torch table, built on first use

    @classmethod
    def for_domain(cls, domain: str, settings: Mapping | None = None, order=None) -> ActionSpec:
        return cls(domain, settings, order)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={self.slots[s].n}" for s in self.order)
        return f"ActionSpec({self.domain}: {sizes})"

    def __eq__(self, other) -> bool:
        return (isinstance(other, ActionSpec) and self.domain == other.domain
                and dict(self.settings) == dict(other.settings) and self.order == other.order
                and set(self.graph.edges) == set(other.graph.edges))

    def __hash__(self) -> int:
        return hash((self.domain, self.order))

    def __reduce__(self):  # picklable (Ray ships specs to actors)
        return (ActionSpec, (self.domain, dict(self.settings), list(self.graph.edges)))

    @property
    def sizes(self) -> dict[str, int]:
        """Number of choices of each slot, in decoding order."""
        return {s: self.slots[s].n for s in self.order}

    def parents(self, slot: str) -> list[str]:
        """The slots ``slot`` depends on (its predecessors in the DAG)."""
        return sorted(self.graph.predecessors(slot), key=self.order.index)

    def used_slots(self, flag: int | str | None = None) -> tuple[str, ...]:
        """The slots a statement uses, for a ``flag`` index or name (scene: all slots)."""
        stmt_type = self._statement_type(flag)
        return tuple(s for s in self.order if s in self._uses[stmt_type])

    def mask(self, flag: int | str | None = None) -> dict[str, bool]:
        used = set(self.used_slots(flag))
        return {s: s in used for s in self.order}

    def _statement_type(self, flag) -> type:
        if len(self.statements) == 1:
            return self.statements[0]
        names = self.slots["flag"].values
        if isinstance(flag, str):
            if flag not in names:
                raise SplRangeError(f"flag={flag!r} is not one of {list(names)}")
            flag = names.index(flag)
        if not (isinstance(flag, int) and 0 <= flag < len(names)):
            raise SplRangeError(f"flag={flag!r} is out of range [0, {len(names) - 1}]")
        return self.statements[flag]

    # ------------------------------------------------------------------ statement ↔ action
    def encode(self, statement, snap: bool = False) -> dict[str, int]:
        """The action of a core statement: ``{slot: index}`` over the slots it uses."""
        stmt_type = type(statement)
        if stmt_type not in self._uses:
            raise SplTypeError(f"{stmt_type.__name__} is not a core statement of the {self.domain} domain")
        out: dict[str, int] = {}
        if "flag" in self.slots:
            out["flag"] = self.statements.index(stmt_type)
        for f in dataclasses.fields(stmt_type):
            if "slot" not in f.metadata:
                continue
            value = getattr(statement, f.name)
            if f.metadata["kind"] == "color":
                for comp, name in zip(value, ("red", "green", "blue")):
                    out[name] = self.slots[name].index(comp, snap)
            else:
                if isinstance(value, A.Point):
                    value = (value.x, value.y)
                out[f.metadata["slot"]] = self.slots[f.metadata["slot"]].index(value, snap)
        return {s: out[s] for s in self.order if s in out}

    def decode(self, action: Mapping[str, int]):
        """The core statement of an action; slots the statement does not use are ignored."""
        stmt_type = self._statement_type(action.get("flag") if "flag" in self.slots else None)
        kwargs = {}
        for f in dataclasses.fields(stmt_type):
            if "slot" not in f.metadata:
                continue
            if f.metadata["kind"] == "color":
                kwargs[f.name] = A.Color(*(self._value(c, action) for c in ("red", "green", "blue")))
                continue
            value = self._value(f.metadata["slot"], action)
            if f.metadata["kind"] == "location":
                value = A.Point(*value)
            kwargs[f.name] = value
        return stmt_type(**kwargs)

    def _value(self, slot: str, action: Mapping[str, int]):
        if slot not in action:
            raise SplRangeError(f"action lacks slot {slot!r}; it needs {list(self.used_slots(action.get('flag')))}")
        k = action[slot]
        n = self.slots[slot].n
        if not (isinstance(k, int) or hasattr(k, "__index__")) or not 0 <= int(k) < n:
            raise SplRangeError(f"{slot}={k!r} is out of range [0, {n - 1}]")
        return self.slots[slot].values[int(k)]

    def encode_program(self, program, snap: bool = False) -> list[dict[str, int]]:
        return [self.encode(s, snap) for s in program]

    def decode_statements(self, actions: Iterable[Mapping[str, int]]) -> list:
        """The core statements of ``actions`` (``Program.from_actions`` makes the program:
        this module does not import :mod:`spiral_dsl.program`)."""
        return [self.decode(a) for a in actions]

    def explicit_settings(self) -> dict:
        """The settings that differ from the domain's defaults (what a header must state)."""
        return _explicit(self.domain, self.settings)

    def value_table(self, slot: str):
        """``numpy`` array of the values of ``slot`` (shape ``(n,)`` or ``(n, 2)``): float64
        (exactly the slot's values) for numbers and points, int64 for cells, and the index
        itself (int64) for the named choices ``flag``, ``shape`` and ``size_class``."""
        import numpy as np
        values = self.slots[slot].values
        if self.slots[slot].kind in ("shape", "size_class", "flag"):
            return np.arange(len(values), dtype=np.int64)
        return np.asarray(values, dtype=np.int64 if self.slots[slot].kind == "cell" else np.float64)

    def stack(self, actions: Iterable[Mapping[str, int]]):
        """B actions as ``{slot: (B,) int64 array}`` over every slot; a slot an action lacks
        (one its statement does not use) is index 0."""
        import numpy as np
        actions = list(actions)
        return {s: np.array([a.get(s, 0) for a in actions], dtype=np.int64) for s in self.order}

    def _check_indices(self, indices: Mapping, torch_in: bool) -> None:
        """Raise :class:`SplRangeError` for an index outside its slot (a negative one would
        silently pick from the end of the table); one device sync for all slots."""
        if torch_in:
            import torch
            bounds = torch.stack([torch.stack([indices[s].min(), indices[s].max()]).to("cpu", torch.long)
                                  for s in self.order]).tolist()
        else:
            import numpy as np
            bounds = [(int(np.min(indices[s])), int(np.max(indices[s]))) for s in self.order]
        for s, (low, high) in zip(self.order, bounds):
            n = len(self.slots[s].values)
            if low < 0 or high >= n:
                raise SplRangeError(f"action index {low if low < 0 else high} of slot {s!r} is "
                                    f"out of range [0, {n - 1}]")

    def values_of(self, indices: Mapping):
        """The values of B actions given as ``{slot: (B,) indices}`` (torch tensors or numpy
        arrays; every slot of the spec): ``{field: (B, ...) values}`` as a
        :class:`~spiral_dsl.interpreters.base.BatchCanvas` steps them, on the indices' device
        (torch in, torch out). Fields are the core statements' (paint: ``flag``, ``to``,
        ``via``, ``size``, ``pressure``, ``color`` (B, 3); scene: ``shape``, ``cell``,
        ``size``, ``color``); see :meth:`value_table` for dtypes. An index outside its slot raises
        :class:`SplRangeError`."""
        missing = [s for s in self.order if s not in indices]
        if missing:
            raise SplRangeError(f"actions lack slots {missing}; {self.domain} actions have {list(self.order)}")
        first = indices[self.order[0]]
        torch_in = type(first).__module__.startswith("torch")
        self._check_indices(indices, torch_in)
        if torch_in:                                          # torch: tables cached per device
            import torch

            def look(slot):
                key = (slot, str(first.device))
                if key not in self._value_tables:
                    self._value_tables[key] = torch.as_tensor(self.value_table(slot), device=first.device)
                return self._value_tables[key][indices[slot].to(first.device).long()]
            stack = torch.stack
        else:
            import numpy as np

            def look(slot):
                return self.value_table(slot)[np.asarray(indices[slot], dtype=np.int64)]
            stack = np.stack
        out = {}
        if "flag" in self.slots:
            out["flag"] = look("flag")
        for stmt_type in self.statements:
            for f in dataclasses.fields(stmt_type):
                if "slot" not in f.metadata or f.name in out:
                    continue
                if f.metadata["kind"] == "color":
                    out[f.name] = stack([look(c) for c in ("red", "green", "blue")], 1)
                else:
                    out[f.name] = look(f.metadata["slot"])
        return out


def _explicit(domain: str, settings: Mapping) -> dict:
    return {k: v for k, v in settings.items() if DEFAULTS[domain].get(k) != v}
