"""The fast path of the parser: programs made only of core statements, one a line.

What the printer, the synthesizer and the action decoder write is read with one regular
expression a line. Anything else -- sugar, several statements on a line, any error -- is left
to lark (:mod:`spiral_dsl.parser`), which is the definition of the syntax: this path reads
only what the grammar reads, to the same AST (whitespace is the grammar's, never Python's
wider ``\\s``; numbers of over 300 digits go to lark). tests/test_parser.py and
tests/test_fuzz.py check that both agree.
"""
from __future__ import annotations

import re

from . import ast as A
from .errors import SplLimitError
from .limits import LIMITS
from .source import WS_CHARS as _WS_CHARS

__all__ = ["fast_parse", "too_many_core_statements"]

# Whitespace is the grammar's (common.WS: space, tab, form feed, carriage return and the
# newline the lines are split at), never Python's wider \s or str.strip().
_S = r"[ \t\f\r]"
# at most 300 digits before the point: longer numbers (which may overflow a float) go to lark
_N = r"(-?(?:[0-9]{1,300}(?:\.[0-9]+)?|\.[0-9]+))"
_P = rf"\({_S}*{_N}{_S}*,{_S}*{_N}{_S}*\)"
_C = rf"(?:(#[0-9a-fA-F]{{6}})|rgb\({_S}*{_N}{_S}*,{_S}*{_N}{_S}*,{_S}*{_N}{_S}*\))"
_TAIL = rf"{_S}*(?://.*)?$"
_MOVE = re.compile(rf"move{_S}+to{_S}*{_P}{_TAIL}")
_STROKE = re.compile(rf"stroke{_S}+via{_S}*{_P}{_S}*to{_S}*{_P}{_S}*pressure{_S}+{_N}{_S}+size"
                     rf"{_S}+{_N}{_S}+color{_S}+{_C}{_TAIL}")
_PLACE = re.compile(rf"place{_S}+([a-z]+){_S}+at{_S}*{_P}{_S}*size{_S}+([a-z]+){_S}+color"
                    rf"{_S}+{_C}{_TAIL}")
# a string setting on the fast path has no escapes and no control characters
_VALUE = r"(?:-?[0-9.]+|#[0-9a-fA-F]{6}|\"[^\"\\\x00-\x1f]*\")"
_HEADER = re.compile(rf"(paint|scene)((?:{_S}+[A-Za-z_][A-Za-z0-9_]*={_VALUE})*){_TAIL}")
_SETTING = re.compile(rf"([A-Za-z_][A-Za-z0-9_]*)=({_VALUE})")
_NUMBER = re.compile(_N + "$")


def _color(groups) -> A.Color:
    hex_, r, g, b = groups
    return A.Color.from_hex(hex_) if hex_ else A.Color(float(r), float(g), float(b))


def fast_parse(text: str, filename: str):
    """``(header, body, setting_spans)`` for a core-only program, else the number of the first
    line that is not one core statement (or the last line, when there is no header)."""
    header, body, spans = None, [], {}
    limit = LIMITS.core_statements
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(_WS_CHARS)
        if not line or line.startswith("//"):
            continue
        column = len(raw) - len(raw.lstrip(_WS_CHARS)) + 1
        span = A.Span(filename, number, column, number, column + len(line))
        if len(body) >= limit:  # every line from here on is one more core statement
            raise SplLimitError(too_many_core_statements()).at(span, text)
        if header is None:
            m = _HEADER.match(line)
            if m is None:
                return number
            settings = {}
            for sm in _SETTING.finditer(m.group(2)):
                key, value = sm.groups()
                if key in settings:
                    return number
                if value.startswith("#"):
                    settings[key] = A.Color.from_hex(value)
                elif value.startswith('"'):
                    settings[key] = value[1:-1]
                elif _NUMBER.match(value):
                    settings[key] = float(value)
                else:
                    return number
                spans[key] = A.Span(filename, number, column + m.start(2) + sm.start(),
                                    number, column + m.start(2) + sm.end())
            header = A.Header(m.group(1), tuple(sorted(settings.items())), span)
            continue
        first = line[0]
        if first == "s":
            m = _STROKE.match(line)
            if m is None:
                return number
            g = m.groups()
            body.append(A.Stroke(A.Point(float(g[2]), float(g[3])), A.Point(float(g[0]), float(g[1])),
                                 float(g[4]), float(g[5]), _color(g[6:10]), span))
        elif first == "m":
            m = _MOVE.match(line)
            if m is None:
                return number
            body.append(A.Move(A.Point(float(m.group(1)), float(m.group(2))), span))
        elif first == "p":
            m = _PLACE.match(line)
            if m is None:
                return number
            g = m.groups()
            i, j = float(g[1]), float(g[2])
            if (g[0] not in A.SHAPES or g[3] not in A.SIZE_CLASSES or not i.is_integer()
                    or not j.is_integer()):
                return number
            body.append(A.Place(g[0], (int(i), int(j)), g[3], _color(g[4:8]), span))
        else:
            return number
    if header is None:
        return number
    return header, tuple(body), spans


def too_many_core_statements() -> str:
    return (f"the program has more than core_statements={LIMITS.core_statements:,} "
            "statements (a limit, see docs/language.md#limits)")
