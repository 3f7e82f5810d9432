"""``Program``: an immutable, checked .spl program and everything a user does with one.

Indexing, ``len``, iteration and the editing methods (``insert``, ``replace``, ``delete``) work
on the *core statements* of the lowered program; editing a program that uses sugar therefore
returns its lowered (core-only) form. ``p + q`` joins the two bodies, sugar included.
Equality and hashing are by value (header, body); spans and metadata do not count.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

from . import ast as A
from . import json_io
from .checker import check, check_settings
from .errors import SplError, SplTypeError
from .io import write_atomic
from .lower import lower
from .parser import parse as _parse
from .printer import print_program
from .settings import resolve
from .source import METADATA_PREFIX as _META_PREFIX
from .source import read_metadata as _read_metadata
from .source import read_source as _read_source

__all__ = ["Program"]




def _check_metadata(metadata) -> dict:
    out = {}
    for key, value in dict(metadata).items():
        key, value = str(key), str(value)
        if not key or ":" in key or "\n" in key or key != key.strip():
            raise SplError(f"metadata key {key!r} must be non-empty, without ':', newlines or "
                           "surrounding spaces")
        if "\n" in value or "\r" in value:
            raise SplError(f"metadata value for {key!r} must be one line, got {value!r}")
        out[key] = value.strip()
    return out


class Program:
    """An immutable, checked program. Build one with :meth:`parse`, :meth:`load`,
    :meth:`from_json`, :meth:`from_statements` or :meth:`from_actions`."""

    __slots__ = ("_header", "_body", "_core", "_settings", "_metadata", "_hash")

    def __init__(self, header: A.Header, body=(), *, metadata: Mapping[str, str] | None = None,
                 _source: str | None = None, _setting_spans: dict | None = None):
        body = A.fold_body(body)
        try:
            check(header, body, _setting_spans)
            settings = resolve(header.domain, check_settings(header, _setting_spans))
            core = lower(body, settings, header.domain)
        except SplError as e:
            raise e.with_source(_source) from None
        # integer settings are stored as ints so equal headers print the same
        header = A.Header(header.domain, tuple(sorted(check_settings(header).items())), header.span)
        object.__setattr__(self, "_header", header)
        object.__setattr__(self, "_body", body)
        object.__setattr__(self, "_core", core)
        object.__setattr__(self, "_settings", MappingProxyType(settings))
        object.__setattr__(self, "_metadata", MappingProxyType(_check_metadata(metadata or {})))
        object.__setattr__(self, "_hash", None)

    def __setattr__(self, name, value):
        raise AttributeError("Program is immutable; use insert/replace/delete or + to build a new one")

    # ------------------------------------------------------------------ construction
    @classmethod
    def parse(cls, text: str, filename: str = "<string>") -> Program:
        """Parse and check ``text``; errors are positioned at ``filename:line:col``."""
        header, body, setting_spans = _parse(text, filename)
        return cls(header, body, metadata=_read_metadata(text, filename), _source=text,
                   _setting_spans=setting_spans)

    @classmethod
    def load(cls, path) -> Program:
        """Read a ``.spl`` file (or a ``.json`` file in the JSON form)."""
        path = Path(path)
        text = _read_source(path)  # bounded, UTF-8, errors as SplError
        if path.suffix == ".json":
            return cls.from_json(text, filename=str(path))
        return cls.parse(text, filename=str(path))

    @classmethod
    def from_statements(cls, statements, domain: str = "paint", metadata=None,
                        **settings) -> Program:
        """A program of the given (core or surface) statements under a ``domain`` header."""
        return cls(A.Header(domain, tuple(sorted(settings.items()))), tuple(statements),
                   metadata=metadata)

    @classmethod
    def from_json(cls, obj, filename: str = "<json>") -> Program:
        """From the JSON form: a ``dict`` or its text (validated strictly; errors name the
        JSON path, e.g. ``body[2].value.left``)."""
        if isinstance(obj, (str, bytes, bytearray)):
            obj = json_io.loads(obj, filename)
        header, body, metadata = json_io.from_obj(obj, filename)
        return cls(header, body, metadata=metadata)

    # ------------------------------------------------------------------ views
    @property
    def header(self) -> A.Header:
        return self._header

    @property
    def body(self) -> tuple:
        """The statements as written (sugar included)."""
        return self._body

    @property
    def domain(self) -> str:
        return self._header.domain

    @property
    def settings(self) -> dict:
        """All settings of the header, defaults filled in (a copy)."""
        return dict(self._settings)

    @property
    def metadata(self) -> Mapping[str, str]:
        """Free-form ``key: value`` notes (e.g. a synthesizer's score); saved as leading
        ``// @key: value`` comments; not part of equality."""
        return self._metadata

    @property
    def is_core(self) -> bool:
        return self._body == self._core

    def with_metadata(self, **entries) -> Program:
        meta = {**self._metadata, **{k: str(v) for k, v in entries.items()}}
        return self._new(self._body, metadata=meta)

    def lower(self) -> Program:
        """The core-only program: every ``let``/``def``/``repeat`` and expression evaluated."""
        if self.is_core:
            return self
        return self._new(self._core)

    def _new(self, body, metadata=None) -> Program:
        return Program(self._header, body,
                       metadata=self._metadata if metadata is None else metadata)

    # ------------------------------------------------------------------ sequence of core statements
    def __len__(self) -> int:
        return len(self._core)

    def __iter__(self) -> Iterator[A.CoreStatement]:
        return iter(self._core)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._new(self._core[index])
        return self._core[index]

    def __add__(self, other: Program) -> Program:
        if not isinstance(other, Program):
            return NotImplemented
        if self.domain != other.domain or self._settings != other._settings:
            raise SplTypeError(f"cannot join programs with different headers: "
                               f"{print_program(self._header, ())!r} and "
                               f"{print_program(other._header, ())!r}".replace("\\n", ""))
        return self._new(self._body + other._body)

    def insert(self, index: int, statement) -> Program:
        """A new program with ``statement`` inserted before core statement ``index``."""
        core = list(self._core)
        core.insert(index, statement)
        return self._new(core)

    def replace(self, index: int, statement) -> Program:
        """A new program with core statement ``index`` replaced."""
        core = list(self._core)
        core[index] = statement
        return self._new(core)

    def delete(self, index) -> Program:
        """A new program without core statement ``index`` (an int or a slice)."""
        core = list(self._core)
        del core[index]
        return self._new(core)

    # ------------------------------------------------------------------ value semantics
    def __eq__(self, other) -> bool:
        if not isinstance(other, Program):
            return NotImplemented
        return self._header == other._header and self._body == other._body

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash((self._header, self._body)))
        return self._hash

    def __reduce__(self):
        return (Program, (self._header, self._body), None)

    # ------------------------------------------------------------------ text and JSON
    def __str__(self) -> str:
        meta = "".join(f"{_META_PREFIX}{k}: {v}\n" for k, v in self._metadata.items())
        return meta + print_program(self._header, self._body)

    def __repr__(self) -> str:
        return f"<Program {self.domain}: {len(self._body)} statements, {len(self._core)} core>"

    def save(self, path) -> None:
        """Write the canonical text (or the JSON form for a ``.json`` path), atomically."""
        path = Path(path)
        write_atomic(path, self.to_json_text() if path.suffix == ".json" else str(self))

    def to_json(self) -> dict:
        return json_io.to_obj(self._header, self._body, self._metadata)

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=1) + "\n"

    # ------------------------------------------------------------------ actions
    def to_actions(self, spec=None, snap: bool = False) -> list[dict[str, int]]:
        """One action ``{slot: index}`` per core statement (see :mod:`spiral_dsl.actions`)."""
        from .actions import ActionSpec
        spec = spec or ActionSpec.for_domain(self.domain, self._settings)
        return spec.encode_program(self, snap)

    @classmethod
    def from_actions(cls, spec, actions) -> Program:
        """The program whose core statements are the decoded ``actions`` of ``spec`` (an
        :class:`~spiral_dsl.actions.ActionSpec`), its header stating the spec's settings."""
        return cls.from_statements(spec.decode_statements(actions), spec.domain, **spec.explicit_settings())

    # ------------------------------------------------------------------ structure
    def graph(self):
        """A ``networkx.DiGraph`` of the lowered program: nodes are core statement indices
        (attribute ``statement``). Paint: an edge i → i+1 when stroke i+1 continues from the
        end of stroke i without a move. Scene: edges both ways between objects in adjacent
        cells (8-neighbourhood)."""
        import networkx as nx

        g = nx.DiGraph()
        for i, s in enumerate(self._core):
            g.add_node(i, statement=s, kind=type(s).__name__.lower())
        if self.domain == "paint":
            for i in range(1, len(self._core)):
                if isinstance(self._core[i], A.Stroke) and isinstance(self._core[i - 1], A.Stroke):
                    g.add_edge(i - 1, i)
        else:
            for i, a in enumerate(self._core):
                for j in range(i + 1, len(self._core)):
                    b = self._core[j]
                    if max(abs(a.cell[0] - b.cell[0]), abs(a.cell[1] - b.cell[1])) == 1:
                        g.add_edge(i, j)
                        g.add_edge(j, i)
        return g

    # ------------------------------------------------------------------ rendering (backends load lazily)
    def render(self, size: int | None = None, backend: str | None = None):
        """The final image, H×W×3 float32 in [0, 1] (see :mod:`spiral_dsl.interpreters`).
        For uint8 pixels or a Pillow image use :meth:`to_image`."""
        from .interpreters import render
        return render(self, size=size, backend=backend)

    def to_image(self, size: int | None = None, backend: str | None = None):
        """The final image as an RGB ``PIL.Image.Image`` (uint8, rounded from :meth:`render`):
        ``p.to_image().save("x.jpg")``, ``numpy.asarray(p.to_image())`` for a uint8 array."""
        from PIL import Image

        from .io import to_uint8
        return Image.fromarray(to_uint8(self.render(size=size, backend=backend)), "RGB")

    def frames(self, size: int | None = None, backend: str | None = None):
        """The image after each core statement (an iterator)."""
        from .interpreters import frames
        return frames(self, size=size, backend=backend)

    def to_svg(self, size: int | None = None) -> str:
        """Strokes as SVG quadratic Bézier paths (a documented approximation of the brush)."""
        from .svg import to_svg
        lowered = self.lower()
        return to_svg(lowered.domain, lowered.settings, list(lowered), size=size)

    def _repr_png_(self) -> bytes:
        """What a notebook shows: the real rendering (the default backend), drawn at
        :data:`NOTEBOOK_SIZE` pixels when the canvas is smaller, so it is legible. There is
        deliberately no ``_repr_svg_``: frontends prefer SVG, and the SVG is an approximation."""
        from .io import encode_image
        size = NOTEBOOK_SIZE if self._settings["canvas"] < NOTEBOOK_SIZE else None
        return encode_image(self.render(size=size))


#: Pixels of the notebook representation (``Program._repr_png_``) when the canvas is smaller.
NOTEBOOK_SIZE = 256
