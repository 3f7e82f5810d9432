"""The brush library: the brush names a paint program may use, and their ``.myb`` files.

A program names a brush (``brush="classic/pen"``), never a file: the name must be one of the
brushes found in the brush folders, so a program text cannot make the renderer read an
arbitrary file. The folders are, in order:

1. the user's own folders: ``SPIRAL_BRUSH_DIR`` (one folder, or several separated by
   ``os.pathsep``) and those given to :func:`use_brush_dirs` (which adds them to
   ``SPIRAL_BRUSH_DIR``, so worker processes started later see them too);
2. the installed library: Debian's ``mypaint-brushes`` 1.x set (what SPIRAL used), then 2.x.

A brush ``a/b`` is the file ``a/b.myb`` under the first folder that has one. Reading a brush
bounds it before libmypaint sees it: the file size (``LIMITS.brush_file_bytes``) and the
settings that set how many dabs a stroke paints (``LIMITS.brush_dabs_per_radius``,
``LIMITS.brush_dabs_per_second``). This module loads no native code: the checker uses it to
reject an unknown brush at ``spiral check``, the backends to read the file.
"""
from __future__ import annotations

import difflib
import functools
import json
import os
from pathlib import Path

from .errors import SplBackendError, SplLimitError, SplRangeError
from .limits import LIMITS

__all__ = ["ENV", "SYSTEM_DIRS", "APT_HINT", "brush_dirs", "brush_names", "brush_path",
           "brush_json", "check_brush_name", "use_brush_dirs", "refresh"]

ENV = "SPIRAL_BRUSH_DIR"
APT_HINT = "apt-get install libmypaint-1.5-1 mypaint-brushes"
SYSTEM_DIRS = (Path("/usr/share/mypaint-data/1.0/brushes"),
               Path("/usr/share/mypaint-data/2.0/brushes"),
               Path("/usr/local/share/mypaint-data/1.0/brushes"),
               Path("/usr/local/share/mypaint-data/2.0/brushes"),
               Path("/usr/share/mypaint/brushes"))
#: Brush settings that multiply the number of dabs of a stroke, and their bound.
_DAB_SETTINGS = {"dabs_per_actual_radius": "brush_dabs_per_radius",
                 "dabs_per_basic_radius": "brush_dabs_per_radius",
                 "dabs_per_second": "brush_dabs_per_second"}
_LIMITS_DOC = "(a limit, see docs/language.md#limits)"


def use_brush_dirs(*dirs) -> None:
    """Add folders of your own ``.myb`` brushes, searched before the installed library.

    They are added to ``SPIRAL_BRUSH_DIR`` (process-wide, inherited by worker processes).
    A folder that does not exist is a :class:`SplRangeError`.
    """
    current = [d for d in os.environ.get(ENV, "").split(os.pathsep) if d]
    for d in dirs:
        path = Path(d).expanduser().resolve()
        if not path.is_dir():
            raise SplRangeError(f"brush folder {str(d)!r} is not a folder")
        if str(path) not in current:
            current.append(str(path))
    os.environ[ENV] = os.pathsep.join(current)


def brush_dirs() -> list[Path]:
    """The folders searched for ``<name>.myb``, in order (only those that exist)."""
    return list(_dirs(os.environ.get(ENV, "")))


@functools.lru_cache(maxsize=8)
def _dirs(env: str) -> tuple[Path, ...]:
    user = [Path(d) for d in env.split(os.pathsep) if d]
    return tuple(d for d in (*user, *SYSTEM_DIRS) if d.is_dir())


@functools.lru_cache(maxsize=8)
def _index(env: str) -> dict[str, Path]:
    """Brush name → file, the first folder winning (cached; rebuilt on a miss)."""
    out: dict[str, Path] = {}
    for d in _dirs(env):
        for f in sorted(d.rglob("*.myb")):
            out.setdefault(f.relative_to(d).with_suffix("").as_posix(), f)
    return out


def _lookup(name: str) -> tuple[Path | None, dict[str, Path]]:
    env = os.environ.get(ENV, "")
    index = _index(env)
    if name not in index:  # maybe added since the index was built
        refresh()
        index = _index(env)
    return index.get(name), index


def refresh() -> None:
    """Forget the cached folder listings (they are also rebuilt when a name is not found)."""
    _dirs.cache_clear()
    _index.cache_clear()


def brush_names() -> tuple[str, ...]:
    """Every brush name found, like ``classic/dry_brush``, sorted."""
    refresh()
    return tuple(sorted(_index(os.environ.get(ENV, ""))))


def _unknown(name: str, names) -> SplRangeError:
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    if not close:  # a bare name ("pen") matches the last path component
        close = [n for n in names if n.rsplit("/", 1)[-1] == name.rsplit("/", 1)[-1]][:5]
    hint = (f"close matches: {', '.join(close)}" if close
            else f"{len(names)} brushes exist, e.g. {', '.join(sorted(names)[:5])}")
    return SplRangeError(f"unknown brush {name!r}; {hint}. A program names a brush of the "
                         f"library; add your own brush folders with {ENV} (see "
                         "docs/language.md#header-and-settings)")


def _well_formed(name) -> bool:
    if not isinstance(name, str) or not name or name.endswith(".myb") or "\\" in name:
        return False
    parts = name.split("/")
    return all(p and p not in (".", "..") and p.isprintable() for p in parts)


def check_brush_name(name) -> None:
    """Raise :class:`SplRangeError` unless ``name`` names a brush of the library (or, with no
    library installed, at least has the form of a brush name rather than a path)."""
    if not _well_formed(name):
        raise SplRangeError(f"brush={name!r} must be a brush name like 'classic/dry_brush' "
                            "(not a path): a program names a brush of the library")
    path, index = _lookup(name)
    if path is None and index:
        raise _unknown(name, index)


def brush_path(name: str) -> Path:
    """The ``.myb`` file of brush ``name`` (``classic/pen``).

    An unknown name raises :class:`SplRangeError` listing the closest names; no brushes at all
    raises :class:`SplBackendError` naming the package to install.
    """
    if not _well_formed(name):
        raise SplRangeError(f"brush={name!r} must be a brush name like 'classic/dry_brush' "
                            "(not a path): a program names a brush of the library")
    path, index = _lookup(name)
    if path is not None:
        return path
    if not index:
        raise SplBackendError(f"no MyPaint brushes found; install them with `{APT_HINT}` "
                              f"or set {ENV} to a folder of .myb files")
    raise _unknown(name, index)


def brush_json(name: str) -> bytes:
    """The JSON text of brush ``name``, checked against the brush limits, as bytes for
    libmypaint (cached per file and modification time)."""
    path = brush_path(name)
    try:
        stat = os.stat(path)
    except OSError as e:
        raise SplRangeError(f"cannot read brush {name!r} ({path}): {e.strerror}") from None
    return _read(name, str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _read(name: str, path: str, mtime_ns: int, size: int) -> bytes:
    if size > LIMITS.brush_file_bytes:
        raise SplLimitError(f"brush {name!r} ({path}) has {size:,} bytes, more than "
                            f"brush_file_bytes={LIMITS.brush_file_bytes:,} {_LIMITS_DOC}")
    try:
        with open(path, "rb") as f:
            data = f.read(LIMITS.brush_file_bytes + 1)
    except OSError as e:
        raise SplRangeError(f"cannot read brush {name!r} ({path}): {e.strerror}") from None
    if len(data) > LIMITS.brush_file_bytes:
        raise SplLimitError(f"brush {name!r} ({path}) has more than brush_file_bytes="
                            f"{LIMITS.brush_file_bytes:,} bytes {_LIMITS_DOC}")
    _check_costs(name, path, data)
    return data


def _check_costs(name: str, path: str, data: bytes) -> None:
    """Bound the settings that multiply a stroke's dabs (libmypaint does not)."""
    try:
        settings = json.loads(data)["settings"]
        if not isinstance(settings, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError, RecursionError):
        raise SplRangeError(f"brush {name!r} ({path}) is not a MyPaint brush: a JSON object "
                            "with \"settings\" was expected") from None
    for key, limit_name in _DAB_SETTINGS.items():
        entry = settings.get(key)
        if entry is None:
            continue
        try:
            largest = float(entry["base_value"]) + sum(
                max(float(y) for _x, y in points)
                for points in (entry.get("inputs") or {}).values() if points)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise SplRangeError(f"brush {name!r} ({path}): setting {key} is malformed") from None
        bound = getattr(LIMITS, limit_name)
        if not largest <= bound:  # NaN fails too
            raise SplLimitError(f"brush {name!r} ({path}): {key} reaches {largest:g}, more than "
                                f"{limit_name}={bound:g} {_LIMITS_DOC}")
