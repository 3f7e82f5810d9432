"""A cffi ABI-mode binding to libmypaint (no compiler at install time) and brush lookup.

Debian's ``libmypaint-1.5-1`` package ships libmypaint 1.6 as ``libmypaint-1.5.so.1``; set
``SPIRAL_LIBMYPAINT=/path/to/libmypaint.so`` to load another build (SPIRAL pinned 1.3.0; see
docs/interpreters.md for how its engine differs). Brushes come from Debian's
``mypaint-brushes`` (``/usr/share/mypaint-data/*/brushes``) or ``SPIRAL_BRUSH_DIR``.
"""
from __future__ import annotations

import difflib
import functools
import os
from pathlib import Path

from ..errors import SplBackendError, SplRangeError

__all__ = ["ffi", "lib", "load", "brush_path", "brush_names", "TILE", "APT_HINT"]

APT_HINT = "apt-get install libmypaint-1.5-1 mypaint-brushes"
TILE = 64  # MYPAINT_TILE_SIZE

_CDEF = """
typedef int gboolean;
typedef unsigned short guint16;
typedef void *gpointer;
typedef struct MyPaintBrush MyPaintBrush;
typedef struct MyPaintSurface MyPaintSurface;
typedef struct MyPaintTiledSurface MyPaintTiledSurface;
typedef struct MyPaintFixedTiledSurface MyPaintFixedTiledSurface;
typedef int MyPaintBrushSetting;
typedef struct { int x; int y; int width; int height; } MyPaintRectangle;
typedef struct {
    int tx; int ty; gboolean readonly; guint16 *buffer; gpointer context;
    int thread_id; int mipmap_level;
} MyPaintTileRequest;

MyPaintBrush *mypaint_brush_new(void);
void mypaint_brush_unref(MyPaintBrush *self);
void mypaint_brush_reset(MyPaintBrush *self);
void mypaint_brush_new_stroke(MyPaintBrush *self);
int mypaint_brush_stroke_to(MyPaintBrush *self, MyPaintSurface *surface, float x, float y,
                            float pressure, float xtilt, float ytilt, double dtime);
void mypaint_brush_set_base_value(MyPaintBrush *self, MyPaintBrushSetting id, float value);
gboolean mypaint_brush_from_string(MyPaintBrush *self, const char *string);
MyPaintBrushSetting mypaint_brush_setting_from_cname(const char *cname);

MyPaintFixedTiledSurface *mypaint_fixed_tiled_surface_new(int width, int height);
MyPaintSurface *mypaint_fixed_tiled_surface_interface(MyPaintFixedTiledSurface *self);
void mypaint_surface_begin_atomic(MyPaintSurface *self);
void mypaint_surface_end_atomic(MyPaintSurface *self, MyPaintRectangle *roi);
void mypaint_surface_unref(MyPaintSurface *self);
void mypaint_tile_request_init(MyPaintTileRequest *data, int level, int tx, int ty, gboolean readonly);
void mypaint_tiled_surface_tile_request_start(MyPaintTiledSurface *self, MyPaintTileRequest *request);
void mypaint_tiled_surface_tile_request_end(MyPaintTiledSurface *self, MyPaintTileRequest *request);
"""


def load():
    """``(ffi, lib)``: libmypaint loaded (once); :class:`SplBackendError` when it is missing."""
    return _load()


@functools.lru_cache(maxsize=1)
def _load():
    try:
        import cffi
    except ImportError:  # pragma: no cover - cffi is a dependency
        raise SplBackendError("the mypaint backend needs cffi: pip install cffi") from None
    ffi = cffi.FFI()
    ffi.cdef(_CDEF)
    override = os.environ.get("SPIRAL_LIBMYPAINT")
    names = [override] if override else ["libmypaint-1.5.so.1", "libmypaint.so.0", "libmypaint-1.6.so.1",
                                          "libmypaint.so"]
    errors = []
    for name in names:
        try:
            return ffi, ffi.dlopen(name)
        except OSError as e:
            errors.append(f"{name}: {e}")
    where = f"SPIRAL_LIBMYPAINT={override!r}" if override else "the system library path"
    raise SplBackendError(f"libmypaint not found in {where} ({'; '.join(errors)}); install it with "
                          f"`{APT_HINT}` or point SPIRAL_LIBMYPAINT at a libmypaint.so")


class _Lazy:
    def __init__(self, index: int):
        self.index = index

    def __getattr__(self, name):
        return getattr(_load()[self.index], name)


ffi = _Lazy(0)  # attribute access loads the library on first use
lib = _Lazy(1)


def brush_dirs() -> list[Path]:
    env = os.environ.get("SPIRAL_BRUSH_DIR")
    dirs = [Path(env)] if env else []
    dirs += [Path("/usr/share/mypaint-data/1.0/brushes"), Path("/usr/share/mypaint-data/2.0/brushes"),
             Path("/usr/local/share/mypaint-data/1.0/brushes"), Path("/usr/share/mypaint/brushes")]
    return [d for d in dirs if d.is_dir()]


@functools.lru_cache(maxsize=None)
def brush_names() -> tuple[str, ...]:
    """Every brush name found, like ``classic/dry_brush``."""
    names = set()
    for d in brush_dirs():
        for f in d.rglob("*.myb"):
            names.add(f.relative_to(d).with_suffix("").as_posix())
    return tuple(sorted(names))


@functools.lru_cache(maxsize=None)
def brush_path(name: str) -> Path:
    """The ``.myb`` file of a brush name (``classic/pen``) or a path to a ``.myb`` file."""
    p = Path(name)
    if p.suffix == ".myb":
        if p.is_file():
            return p
        raise SplRangeError(f"brush file {name!r} does not exist")
    for d in brush_dirs():
        f = d / f"{name}.myb"
        if f.is_file():
            return f
    names = brush_names()
    if not names:
        raise SplBackendError(f"no MyPaint brushes found; install them with `{APT_HINT}` "
                              "or set SPIRAL_BRUSH_DIR")
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    hint = f"; close matches: {', '.join(close)}" if close else f"; e.g. {', '.join(names[:5])}"
    raise SplRangeError(f"unknown brush {name!r}{hint}")
