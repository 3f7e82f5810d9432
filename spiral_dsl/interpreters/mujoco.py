"""The scene domain on real MuJoCo, headless: objects on a table under a fixed camera.

Scene semantics (SPIRAL's scene action space):

* A square table top at z = 0, ``grid`` × ``grid`` cells of ``CELL`` metres. Cell ``(i, j)``:
  ``i`` is the column (x grows to the right of the image), ``j`` the row (row 0 is the far
  edge, at the top of the image); its centre is ``x = (i + 0.5 - grid/2) * CELL``,
  ``y = (grid/2 - j - 0.5) * CELL``.
* Shapes ``sphere``, ``cube`` (box), ``cylinder``, ``capsule``, each resting on the table
  (its lowest point at z = 0); sizes ``small``/``medium``/``large`` are a radius (half width) of
  0.5 / 0.75 / 1 cell; cylinders and cubes are as tall as they are wide, capsules stand
  upright with total height 3 radii.
* A fixed camera above the near edge looks down at 65° so every cell is visible and shapes keep
  distinct silhouettes; a bright headlight (ambient 0.5, diffuse 0.5) and no specular light keep
  rendered colours close to the requested ones. Shadows and MSAA are off by default (0.7 ms
  instead of 30 ms per 64² frame); ``MujocoInterpreter(shadows=True, msaa=4)`` turns them on.

The MJCF is compiled once per (grid, objects, quality); a scene changes geom type, size,
position and colour of hidden slots in place, never recompiling. MuJoCo runs headless with
``MUJOCO_GL=egl`` (Debian Mesa EGL), falling back to ``osmesa``.
"""
from __future__ import annotations

import functools
import math
import os
import subprocess
import sys

import numpy as np

from ..ast import SHAPES, SIZE_CLASSES, Place
from ..errors import SplBackendError, SplLimitError, SplTypeError
from ..lower import check_core

__all__ = ["MujocoInterpreter", "SceneCanvas", "project_cell", "CELL", "SIZE_RADIUS"]

CELL = 0.1                                   # metres per grid cell
SIZE_RADIUS = {"small": 0.5, "medium": 0.75, "large": 1.0}   # in cells
CAMERA_ELEVATION = 65.0                      # degrees below the horizon
FOVY = 45.0
APT_HINT = "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri (or libosmesa6)"


def _probe(backend: str) -> bool:
    code = ("import mujoco; m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size=\".1\"/>"
            "</worldbody></mujoco>'); r = mujoco.Renderer(m, 8, 8); d = mujoco.MjData(m); "
            "mujoco.mj_forward(m, d); r.update_scene(d); r.render()")
    env = dict(os.environ, MUJOCO_GL=backend)
    if backend == "osmesa":
        env.setdefault("PYOPENGL_PLATFORM", "osmesa")
    try:
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.lru_cache(maxsize=1)
def _mujoco():
    """Import mujoco with a working headless GL backend chosen first."""
    if "mujoco" not in sys.modules and "MUJOCO_GL" not in os.environ:
        for backend in ("egl", "osmesa"):
            if _probe(backend):
                os.environ["MUJOCO_GL"] = backend
                if backend == "osmesa":
                    os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
                break
        else:
            raise SplBackendError(f"MuJoCo cannot render headless here: neither EGL nor OSMesa "
                                  f"works; install them with `{APT_HINT}`")
    try:
        import mujoco
    except ImportError:
        raise SplBackendError("the mujoco backend needs MuJoCo: pip install 'spiral-dsl[scene]'") from None
    return mujoco


@functools.lru_cache(maxsize=None)
def _camera(grid: int) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Camera position and look-at point: the closest camera (at ``CAMERA_ELEVATION``) that
    keeps every cell, and a large object on it, inside the image with a 3% margin."""
    half = grid * CELL / 2
    elev = math.radians(CAMERA_ELEVATION)
    look = (0.0, -0.08 * half, 0.0)
    distance = half
    while True:
        pos = (0.0, look[1] - distance * math.cos(elev), distance * math.sin(elev))
        corners = [(i, j, h) for i in (0, grid - 1) for j in (0, grid - 1) for h in (0.0, 3 * CELL)]
        if all(0.03 <= c <= 0.97 for i, j, h in corners
               for c in _project(pos, look, cell_centre(grid, i, j), h, 1.0)):
            return pos, look
        distance *= 1.03


def _project(pos, look, xy, height: float, size: float) -> tuple[float, float]:
    fwd = np.subtract(look, pos)
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right = right / np.linalg.norm(right)
    up = np.cross(right, fwd)
    v = np.array([xy[0], xy[1], height]) - pos
    depth = v @ fwd
    f = (size / 2) / math.tan(math.radians(FOVY) / 2)
    return (size / 2 + f * (v @ right) / depth, size / 2 - f * (v @ up) / depth)


def _mjcf(grid: int, objects: int, shadows: bool, msaa: int, max_size: int) -> str:
    half = grid * CELL / 2
    pos, look = _camera(grid)
    slots = "\n".join(f'<body name="obj{k}" pos="0 0 -5"><geom name="obj{k}" type="sphere" '
                      f'size="0.03" rgba="0 0 0 0" contype="0" conaffinity="0"/></body>'
                      for k in range(objects))
    xyaxes = _xyaxes(pos, look)
    return f"""<mujoco model="spiral_scene">
  <visual>
    <quality shadowsize="{2048 if shadows else 0}" offsamples="{msaa}"/>
    <global offwidth="{max_size}" offheight="{max_size}" fovy="{FOVY}"/>
    <headlight ambient="0.5 0.5 0.5" diffuse="0.5 0.5 0.5" specular="0 0 0"/>
    <map znear="0.01"/>
  </visual>
  <worldbody>
    <geom name="floor" type="plane" size="{4 * half} {4 * half} 0.1" pos="0 0 -0.02" rgba="0.35 0.35 0.38 1"/>
    <geom name="table" type="box" size="{half} {half} 0.01" pos="0 0 -0.01" rgba="0.85 0.8 0.7 1"/>
    <camera name="main" pos="{pos[0]} {pos[1]} {pos[2]}" xyaxes="{xyaxes}" fovy="{FOVY}"/>
    {slots}
  </worldbody>
</mujoco>"""


def _xyaxes(pos, look) -> str:
    fwd = np.subtract(look, pos)
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right = right / np.linalg.norm(right)
    up = np.cross(right, fwd)
    return " ".join(f"{v:.6f}" for v in (*right, *up))


class _Model:
    """One compiled scene (per grid, objects, quality) and its renderers (per size)."""

    def __init__(self, grid: int, objects: int, shadows: bool, msaa: int, max_size: int):
        mj = _mujoco()
        self.mj = mj
        self.grid, self.objects = grid, objects
        self.model = mj.MjModel.from_xml_string(_mjcf(grid, objects, shadows, msaa, max_size))
        self.data = mj.MjData(self.model)
        self.geom = [mj.mj_name2id(self.model, mj.mjtObj.mjOBJ_GEOM, f"obj{k}") for k in range(objects)]
        self.body = [mj.mj_name2id(self.model, mj.mjtObj.mjOBJ_BODY, f"obj{k}") for k in range(objects)]
        self.types = {"sphere": mj.mjtGeom.mjGEOM_SPHERE, "cube": mj.mjtGeom.mjGEOM_BOX,
                      "cylinder": mj.mjtGeom.mjGEOM_CYLINDER, "capsule": mj.mjtGeom.mjGEOM_CAPSULE}
        self.renderers: dict[int, object] = {}

    def renderer(self, size: int):
        if size not in self.renderers:
            self.renderers[size] = self.mj.Renderer(self.model, size, size)
        return self.renderers[size]

    def clear(self) -> None:
        for k in range(self.objects):
            self.model.body_pos[self.body[k]] = (0, 0, -5)
            self.model.geom_rgba[self.geom[k]] = (0, 0, 0, 0)

    def set(self, k: int, place: Place) -> None:
        m, g = self.model, self.geom[k]
        r = SIZE_RADIUS[place.size] * CELL
        shape = place.shape
        if shape == "sphere":
            size, z = (r, 0, 0), r
        elif shape == "cube":
            size, z = (r, r, r), r
        elif shape == "cylinder":
            size, z = (r, r, 0), r
        else:  # capsule: radius r, half-length of the cylinder part r/2 -> total height 3r
            size, z = (r, r / 2, 0), 1.5 * r
        m.geom_type[g] = self.types[shape]
        m.geom_size[g] = size
        m.geom_rbound[g] = math.sqrt(3) * 1.5 * r
        if hasattr(m, "geom_aabb"):
            m.geom_aabb[g] = (0, 0, 0, r, r, 1.5 * r)
        i, j = place.cell
        x, y = cell_centre(self.grid, i, j)
        m.body_pos[self.body[k]] = (x, y, z)
        m.geom_rgba[g] = (*place.color, 1.0)

    def render(self, size: int) -> np.ndarray:
        self.mj.mj_forward(self.model, self.data)   # kinematics alone renders black
        r = self.renderer(size)
        r.update_scene(self.data, camera="main")
        return r.render()


def cell_centre(grid: int, i: int, j: int) -> tuple[float, float]:
    return ((i + 0.5 - grid / 2) * CELL, (grid / 2 - j - 0.5) * CELL)


def project_cell(settings: dict, cell: tuple[int, int], size: int | None = None,
                 height: float = 0.0) -> tuple[float, float]:
    """Pixel coordinates (x right, y down) of a cell centre at ``height`` metres, computed from
    the model's camera (pinhole projection with the MJCF's fovy)."""
    grid = settings["grid"]
    pos, look = _camera(grid)
    return _project(pos, look, cell_centre(grid, *cell), height, size or settings["canvas"])


class SceneCanvas:
    """A scene being built: one object per executed ``place``."""

    def __init__(self, model: _Model, settings: dict, size: int):
        self.model, self.settings, self.size = model, settings, size
        self.count = 0
        model.clear()

    def execute(self, statement) -> None:
        if not isinstance(statement, Place):
            raise SplTypeError(f"the mujoco backend draws place, not {type(statement).__name__}")
        check_core(statement, self.settings)
        if self.count >= self.settings["objects"]:
            raise SplLimitError(f"more than objects={self.settings['objects']} objects in this scene")
        self.model.set(self.count, statement)
        self.count += 1

    def image(self) -> np.ndarray:
        return (self.model.render(self.size).astype(np.float32) / 255.0)

    def close(self) -> None:
        self.model = None


class MujocoInterpreter:
    """The ``mujoco`` backend. Models are compiled once per (grid, objects) and reused."""

    name = "mujoco"
    domains = ("scene",)

    def __init__(self, shadows: bool = False, msaa: int = 0, max_size: int = 1024):
        self.shadows, self.msaa, self.max_size = shadows, msaa, max_size
        self._models: dict = {}

    def start(self, domain: str, settings: dict, size: int | None = None) -> SceneCanvas:
        if domain != "scene":
            raise SplTypeError(f"the mujoco backend draws the scene domain, not {domain!r}")
        size = int(size or settings["canvas"])
        if not 1 <= size <= self.max_size:
            raise SplTypeError(f"size={size} is out of range [1, {self.max_size}]")
        key = (settings["grid"], settings["objects"])
        if key not in self._models:
            self._models[key] = _Model(settings["grid"], settings["objects"], self.shadows,
                                       self.msaa, self.max_size)
        return SceneCanvas(self._models[key], settings, size)


_ = (SHAPES, SIZE_CLASSES)  # the shapes and sizes this backend implements (see _Model.set)
