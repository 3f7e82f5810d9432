"""The scene model of the ``mujoco`` backend: table, cells, shapes, camera, lights, as MJCF.

Pure geometry (numpy only, no MuJoCo import), so it can be read and tested without a GL stack.

* The table top is the plane z = 0. The ``grid`` × ``grid`` cells are squares of ``CELL``
  metres centred on the origin; the table extends ``MARGIN`` cells beyond them so that a large
  object on an edge cell still stands on it. Cell ``(i, j)``: ``i`` is the column (x, to the
  right in the image), ``j`` the row (row 0 is the far edge, at the top of the image), like
  pixel coordinates. Its centre is ``x = (i + 0.5 - grid/2) * CELL``,
  ``y = (grid/2 - j - 0.5) * CELL``. A dark floor fills the view around the table.
* Every object rests on the table (its lowest point at z = 0), upright, centred on its cell;
  ``SIZE_RADIUS`` is its half width, :func:`geom_params` its exact shape.
* One fixed perspective camera (``FOVY`` degrees) on the near side (−y) looks down at
  ``ELEVATION`` degrees, as close as it can while the whole table and a large object of any
  shape on any corner cell stay in the image (:func:`camera_pose`).
* Lights favour colour fidelity: a headlight (a directional light from the camera) with
  ambient ``AMBIENT`` and diffuse ``HEADLIGHT``, and a dim directional light from above
  (``TOP_LIGHT``) that shades faces apart; no specular light at all. A surface facing the
  camera renders at 1.0 × its colour; an object's mean colour is about 0.9–0.95 × its colour.
  With shadows on, the top light casts them.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..ast import SHAPES

__all__ = ["CELL", "MARGIN", "SIZE_RADIUS", "ELEVATION", "FOVY", "AMBIENT", "HEADLIGHT",
           "TOP_LIGHT", "TABLE_RGBA", "FLOOR_RGBA", "SHOWN_GROUP", "HIDDEN_GROUP",
           "cell_centre", "geom_params", "tessellation", "camera_pose", "scene_xml", "max_height"]

CELL = 0.1                                    # metres per grid cell
MARGIN = 0.5                                  # table beyond the grid, in cells
SIZE_RADIUS = {"small": 0.05, "medium": 0.075, "large": 0.1}    # half width in metres
ELEVATION = 55.0                              # camera pitch below the horizon, degrees
FOVY = 20.0                                   # vertical field of view, degrees
AMBIENT = 0.7                                 # headlight ambient (all surfaces)
HEADLIGHT = 0.3                               # headlight diffuse (surfaces facing the camera)
TOP_LIGHT = 0.15                              # directional light from above (shading cue)
TOP_LIGHT_DIR = (0.3, 0.5, -1.0)              # from the upper left, slightly from behind
TABLE_RGBA = (0.5, 0.5, 0.5, 1.0)             # mid grey: every 4-level colour is >= 1/6 off
                                              # in some channel
FLOOR_RGBA = (0.12, 0.12, 0.14, 1.0)          # dark, but not the black of a black object
SHOWN_GROUP, HIDDEN_GROUP = 0, 3              # MjvOption shows geom groups 0-2 by default
SHADOW_SIZE = 2048


def tessellation(size: int) -> tuple[int, int]:
    """Slices and stacks of the curved shapes for an output of ``size`` pixels: coarse where
    facets are smaller than a pixel (1.9× faster at 64², measured with ``numquads`` 1), MuJoCo's
    default (28, 16) above 256 pixels."""
    if size <= 96:
        return 12, 6
    if size <= 256:
        return 20, 10
    return 28, 16


def cell_centre(grid: int, i: int, j: int) -> tuple[float, float]:
    """World (x, y) in metres of the centre of cell ``(i, j)`` (column i, row j)."""
    return ((i + 0.5 - grid / 2) * CELL, (grid / 2 - j - 0.5) * CELL)


def geom_params(shape: str, size: str) -> tuple[str, tuple[float, float, float], float]:
    """MuJoCo geom type name (``mjGEOM_<NAME>``), ``geom_size`` triple and half height of a
    shape of a size class.

    sphere: radius r. cube: half sides r, turned 45° about the vertical (every slot is) so that
    it shows two side faces and a diamond top, unlike a cylinder. cylinder: radius r, height
    2 r. capsule: radius 0.6 r, cylinder part 2 r, so 3.2 r tall and 1.2 r wide.
    """
    r = SIZE_RADIUS[size]
    if shape == "sphere":
        return "sphere", (r, 0.0, 0.0), r
    if shape == "cube":
        return "box", (r, r, r), r
    if shape == "cylinder":
        return "cylinder", (r, r, 0.0), r
    if shape == "capsule":
        return "capsule", (0.6 * r, r, 0.0), 1.6 * r
    raise KeyError(shape)


def max_height() -> float:
    """The height of the tallest object (a large capsule), in metres."""
    return max(2 * geom_params(s, "large")[2] for s in SHAPES)


def _camera_axes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors right, up and forward of the camera, looking +y and down ``ELEVATION``."""
    e = math.radians(ELEVATION)
    return (np.array([1.0, 0.0, 0.0]), np.array([0.0, math.sin(e), math.cos(e)]),
            np.array([0.0, math.cos(e), -math.sin(e)]))


@functools.cache
def camera_pose(grid: int, margin: float = 0.02) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Camera position and MJCF ``xyaxes`` for ``grid``: pitched down ``ELEVATION`` degrees,
    looking from the −y side, placed as close as possible so that the table top and a box
    holding any large object on any corner cell stay ``margin`` (image fraction) inside the
    image, and then centred vertically between the binding points.

    With the orientation fixed, write the camera position as ``c = a * up + s * forward``.
    A point p is inside the image when ``|p·right| <= k d`` and ``|p·up - a| <= k d`` with
    depth ``d = p·forward - s`` and ``k = (1 - 2 margin) tan(fovy / 2)``: the largest ``s``
    (the closest camera) is found by bisection, ``a`` is the middle of its feasible interval.
    """
    half = (grid / 2 + MARGIN) * CELL
    h = max_height()
    # half width of a box around any large object: the turned cube reaches r·√2
    edge = (grid / 2 - 0.5) * CELL + SIZE_RADIUS["large"] * math.sqrt(2)
    points = np.array([(sx * half, sy * half, 0.0) for sx in (-1, 1) for sy in (-1, 1)]
                      + [(sx * edge, sy * edge, h) for sx in (-1, 1) for sy in (-1, 1)])
    right, up, fwd = _camera_axes()
    k = (1 - 2 * margin) * math.tan(math.radians(FOVY) / 2)
    pr, pu, pf = points @ right, points @ up, points @ fwd

    def interval(s: float) -> tuple[float, float]:
        d = pf - s
        return float(np.max(pu - k * d)), float(np.min(pu + k * d))

    hi = float(np.min(pf - np.abs(pr) / k))        # the horizontal bound on s
    lo = hi - 100.0 * (half + h)                   # far enough back that every point fits
    for _ in range(100):
        mid = (lo + hi) / 2
        a_lo, a_hi = interval(mid)
        lo, hi = (mid, hi) if a_lo <= a_hi else (lo, mid)
    a_lo, a_hi = interval(lo)
    pos = (a_lo + a_hi) / 2 * up + lo * fwd
    return tuple(float(v) for v in pos), tuple(float(v) for v in (*right, *up))


def _f(values) -> str:
    return " ".join(f"{v:.9g}" for v in values)


def scene_xml(grid: int, objects: int, shadows: bool = False, msaa: int = 0) -> str:
    """The MJCF of a table for ``grid`` cells with ``objects`` hidden object slots
    (geoms ``slot0`` … in consecutive ids, in the hidden geom group until placed)."""
    half = (grid / 2 + MARGIN) * CELL
    pos, xyaxes = camera_pose(grid)
    distance = math.sqrt(sum(v * v for v in pos))   # camera to table centre
    floor = 10 * distance                           # fills the view around the table
    # znear, zfar and the shadow map's reach are relative to the extent: here the distance
    amb, head, top = (f"{v} {v} {v}" for v in (AMBIENT, HEADLIGHT, TOP_LIGHT))
    slots = "\n    ".join(
        f'<geom name="slot{k}" type="sphere" size="{CELL / 2}" pos="0 0 -1" euler="0 0 45" group="{HIDDEN_GROUP}" '
        f'rgba="0 0 0 1" contype="0" conaffinity="0"/>' for k in range(objects))
    return f"""<mujoco model="spiral_scene">
  <option><flag contact="disable" gravity="disable"/></option>
  <statistic extent="{distance:.9g}" center="0 0 0"/>
  <visual>
    <quality shadowsize="{SHADOW_SIZE if shadows else 0}" offsamples="{int(msaa)}" numquads="1"/>
    <global offwidth="64" offheight="64" fovy="{FOVY}"/>
    <headlight active="1" ambient="{amb}" diffuse="{head}" specular="0 0 0"/>
    <map znear="0.01" zfar="50" shadowclip="{12 * half / distance:.9g}"/>
  </visual>
  <worldbody>
    <light name="top" directional="true" pos="0 0 3" dir="{_f(TOP_LIGHT_DIR)}" diffuse="{top}"
           ambient="0 0 0" specular="0 0 0" castshadow="{'true' if shadows else 'false'}"/>
    <geom name="floor" type="box" size="{floor:.9g} {floor:.9g} 0.01" pos="0 0 -0.06"
          rgba="{_f(FLOOR_RGBA)}" contype="0" conaffinity="0"/>
    <geom name="table" type="box" size="{half} {half} 0.025" pos="0 0 -0.025"
          rgba="{_f(TABLE_RGBA)}" contype="0" conaffinity="0"/>
    <camera name="main" pos="{_f(pos)}" xyaxes="{_f(xyaxes)}" fovy="{FOVY}"/>
    {slots}
  </worldbody>
</mujoco>
"""
