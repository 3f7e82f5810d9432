"""A TOML file read with the positions that :mod:`tomllib` does not keep.

:func:`read_toml` returns the table and, per top-level key, where it is written
(``filename``, ``line``, ``column``, ``source_line``: the keyword arguments of a positioned
:class:`~spiral_dsl.errors.SplError`), so that a value checked later can be reported at its
``file:line:col``. A file that is missing, unreadable, not UTF-8 or not TOML raises
:class:`~synth.errors.ConfigError` (TOML syntax errors at their own position).
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from .errors import ConfigError

__all__ = ["read_toml", "key_position"]


def read_toml(path: Path) -> tuple[dict, dict[str, dict]]:
    """``(table, positions)`` of the TOML file ``path``; ``positions[key]`` locates each
    top-level key (see the module docstring)."""
    if not path.is_file():
        hint = ""
        if not path.is_absolute() and Path("configs", path).is_file():
            hint = f" (did you mean configs/{path}?)"
        what = "is not a file" if path.exists() else "does not exist"
        raise ConfigError(f"config file {path} {what}{hint}")
    try:
        text = path.read_bytes().decode("utf-8-sig")   # a BOM (Windows editors) is not TOML
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line, column = _error_position(e, text)
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)$", "", str(e))
        raise ConfigError(f"invalid TOML: {message}", filename=str(path), line=line, column=column,
                          source_line=_line_of(text, line)) from None
    return values, {key: key_position(text, key, str(path)) for key in values}


def key_position(text: str, key: str, filename: str) -> dict:
    """Where ``key = ...`` (or a table ``[key]``) is written in TOML ``text``: the first line
    whose key is ``key``, bare or quoted (``{"filename": ...}`` alone when none is)."""
    name = rf"""(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')"""
    pattern = re.compile(rf"^(\s*)(?:{name}\s*=|\[\s*{name}\s*\])")
    for number, line in enumerate(text.split("\n"), 1):
        match = pattern.match(line)
        if match:
            return {"filename": filename, "line": number, "column": len(match.group(1)) + 1,
                    "source_line": line.rstrip("\r")}
    return {"filename": filename}


def _error_position(error: tomllib.TOMLDecodeError, text: str) -> tuple[int, int]:
    """(line, column) of a TOML error; tomllib puts them only in its message before 3.14."""
    match = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
    if match:
        return int(match.group(1)), int(match.group(2))
    lines = text.rstrip("\n").split("\n")  # "(at end of document)": after the last character
    return len(lines), len(lines[-1]) + 1


def _line_of(text: str, line: int | None) -> str | None:
    lines = text.split("\n")
    return lines[line - 1].rstrip("\r") if line and line <= len(lines) else None
