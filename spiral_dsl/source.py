"""A program's source text: read from a file within the limits, and its metadata lines.

``read_source`` bounds a file before reading it (``LIMITS.source_bytes``) and reports a byte
that is not UTF-8 at its line and column; ``read_metadata`` reads the leading
``// @key: value`` lines (see docs/language.md, "Metadata comments").
"""
from __future__ import annotations

from pathlib import Path

from .errors import SplError, SplLimitError, SplSyntaxError, source_line
from .limits import LIMITS

__all__ = ["read_source", "read_metadata", "METADATA_PREFIX", "WS_CHARS"]

METADATA_PREFIX = "// @"
#: The grammar's whitespace within a line (common.WS without the newline).
WS_CHARS = " \t\f\r"


def read_metadata(text: str, filename: str = "<string>") -> dict:
    """The metadata of a program text: its leading ``// @key: value`` lines, in order.

    A key must be non-empty and without surrounding spaces, a value one line; anything else
    is a :class:`SplSyntaxError` at that line (``// @: note`` has no key).
    """
    meta = {}
    for number, line in enumerate(text.split("\n"), 1):
        if not line.startswith(METADATA_PREFIX):
            break
        key, _, value = line[len(METADATA_PREFIX):].partition(":")
        key, value = key.strip(WS_CHARS), value.strip(WS_CHARS)
        problem = ("has no key" if not key else
                   "has a key with surrounding spaces" if key != key.strip() else
                   "has a carriage return inside its value" if "\r" in value else None)
        if problem:
            raise SplSyntaxError(
                f"metadata line {problem}; write {METADATA_PREFIX}key: value, or put a space "
                "after // for an ordinary comment", filename=filename, line=number,
                column=len(METADATA_PREFIX) + 1, source_line=source_line(text, number))
        meta[key] = value
    return meta


def read_source(path) -> str:
    """The text of a program file: at most ``LIMITS.source_bytes`` bytes (checked before
    reading), UTF-8 (a bad byte is a :class:`SplSyntaxError` at its line and column)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > LIMITS.source_bytes:
            raise SplLimitError(f"{path} has {size:,} bytes, more than source_bytes="
                                f"{LIMITS.source_bytes:,} (a limit, see docs/language.md#limits)")
        with open(path, "rb") as f:
            data = f.read(LIMITS.source_bytes + 1)
    except OSError as e:
        raise SplError(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > LIMITS.source_bytes:  # grew since the stat
        raise SplLimitError(f"{path} has more than source_bytes={LIMITS.source_bytes:,} bytes "
                            "(a limit, see docs/language.md#limits)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SplSyntaxError(f"not UTF-8 text: byte 0x{data[e.start]:02x} cannot be decoded "
                             "(is this an image or a binary file?)", filename=str(path),
                             line=line, column=column) from None
