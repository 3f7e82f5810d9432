"""A cffi ABI-mode binding to libmypaint (no compiler at install time) and brush lookup.

Debian's ``libmypaint-1.5-1`` package ships libmypaint 1.6 as ``libmypaint-1.5.so.1``; set
``SPIRAL_LIBMYPAINT=/path/to/libmypaint.so`` to load another build. Brushes come from Debian's
``mypaint-brushes`` (``/usr/share/mypaint-data/{1.0,2.0}/brushes``) or the folders in
``SPIRAL_BRUSH_DIR``, by name only (see :mod:`spiral_dsl.brushes`).

``mypaint_brush_stroke_to`` is declared with libmypaint 1.3's eight arguments: 1.6 keeps that
symbol ABI-compatible (it calls the internal stroke function with view zoom 1, view rotation 0
and barrel rotation 0, checked by disassembling the Debian build) and adds the wider
``mypaint_brush_stroke_to_2`` for ``MyPaintSurface2``. So the same declaration drives 1.3, the
version SPIRAL pinned, and 1.6.

Brush lookup lives in :mod:`spiral_dsl.brushes` (no native code: the checker uses it too);
its functions are re-exported here.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from ..brushes import APT_HINT, brush_dirs, brush_json, brush_names, brush_path
from ..errors import SplBackendError

__all__ = ["Binding", "load", "brush_dirs", "brush_names", "brush_path", "brush_json", "TILE",
           "FIX15", "APT_HINT", "LIBRARY_NAMES", "SYMBOLS"]

TILE = 64          # MYPAINT_TILE_SIZE: surfaces are stored as 64×64 RGBA tiles
FIX15 = 1 << 15    # libmypaint's fixed-point 1.0 (pixels are premultiplied RGBA fix15)
#: Tried in order when SPIRAL_LIBMYPAINT is unset.
LIBRARY_NAMES = ("libmypaint-1.5.so.1", "libmypaint.so.0", "libmypaint-1.6.so.1", "libmypaint.so")

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
void mypaint_tile_request_init(MyPaintTileRequest *data, int level, int tx, int ty,
                               gboolean readonly);
void mypaint_tiled_surface_tile_request_start(MyPaintTiledSurface *self,
                                              MyPaintTileRequest *request);
void mypaint_tiled_surface_tile_request_end(MyPaintTiledSurface *self,
                                            MyPaintTileRequest *request);
"""

#: Every function the backend calls; a library missing one is rejected at load time.
SYMBOLS = tuple(line.split("(")[0].split()[-1].lstrip("*") for line in _CDEF.splitlines()
                if "(" in line and not line.startswith((" ", "typedef")))


@dataclass(frozen=True)
class Binding:
    """A loaded libmypaint: the cffi ``ffi`` and ``lib``, where it came from, and the ids of
    the brush settings the paint backend sets (``radius_logarithmic``, ``color_h/s/v``)."""
    ffi: object
    lib: object
    path: str
    radius_logarithmic: int
    color_h: int
    color_s: int
    color_v: int


def load() -> Binding:
    """The libmypaint named by ``SPIRAL_LIBMYPAINT``, else the system's; loaded once per path.

    Raises :class:`SplBackendError` naming the packages to install when none loads.
    """
    return _load(os.environ.get("SPIRAL_LIBMYPAINT") or None)


@functools.cache
def _load(override: str | None) -> Binding:
    try:
        import cffi
    except ImportError:  # pragma: no cover - cffi is a dependency
        raise SplBackendError("the mypaint backend needs cffi: pip install cffi") from None
    ffi = cffi.FFI()
    ffi.cdef(_CDEF)
    errors = []
    for name in ([override] if override else LIBRARY_NAMES):
        try:
            lib = ffi.dlopen(name)
        except OSError as e:
            errors.append(f"{name}: {e}")
            continue
        missing = [s for s in SYMBOLS if not hasattr(lib, s)]
        if missing:  # a library that is not libmypaint >= 1.3
            errors.append(f"{name}: lacks {', '.join(missing)}")
            continue
        ids = [lib.mypaint_brush_setting_from_cname(n.encode())
               for n in ("radius_logarithmic", "color_h", "color_s", "color_v")]
        return Binding(ffi, lib, name, *ids)
    where = f"SPIRAL_LIBMYPAINT={override!r}" if override else "the system library path"
    raise SplBackendError(f"libmypaint not found in {where} ({'; '.join(errors)}); install it "
                          f"with `{APT_HINT}` or point SPIRAL_LIBMYPAINT at a libmypaint.so")
