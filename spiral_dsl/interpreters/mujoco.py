"""The ``mujoco`` backend: scene programs rendered with real MuJoCo, headless, on a CPU.

The scene (table, cells, shapes, camera, lights) is defined in :mod:`.mujoco_scene`. Speed
comes from compiling the MJCF once per (grid, objects, shadows, msaa) with ``objects`` hidden
geom slots; a canvas only records its objects, and :meth:`SceneCanvas.image` writes them into
the slots in place (``geom_type``, ``geom_size``, ``geom_pos``, ``geom_rgba``, ``geom_group``,
``geom_rbound``, ``geom_aabb``), runs ``mj_forward`` once and renders with a
``mujoco.Renderer`` kept per output size (its offscreen buffer and the curved shapes'
tessellation are set per size, see :func:`.mujoco_scene.tessellation`). Canvases sharing a model never see each other's
objects, so a batch of canvases can be open at once. Not thread-safe (one GL context per
renderer, made current on the calling thread).

Headless GL: MuJoCo picks its GL backend from ``MUJOCO_GL`` when it is first imported. When
the user has not set it (and nothing imported mujoco yet), the first use of this backend tries
``egl`` then ``osmesa``, each by rendering a tiny scene in a child process (a failed GL stack
can abort a process), sets ``MUJOCO_GL`` (inherited by worker processes) and only then imports
mujoco. Importing :mod:`spiral_dsl` never imports mujoco.
"""
from __future__ import annotations

import atexit
import functools
import itertools
import math
import os
import subprocess
import sys
import weakref
from collections import OrderedDict
from numbers import Integral

import numpy as np

from ..ast import Place
from ..errors import SplBackendError, SplLimitError, SplRangeError, SplStateError, SplTypeError
from ..lower import check_core
from ..settings import INT_RANGES
from . import mujoco_scene as S

__all__ = ["MujocoInterpreter", "SceneCanvas", "project_cell", "project_point", "gl_backend",
           "APT_HINT"]

APT_HINT = ("apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri  "
            "(or, for software rendering, apt-get install libosmesa6)")
#: Compiled models kept per interpreter (one per (grid, objects)), least recently used evicted.
MAX_MODELS = 8
#: Renderers (GL contexts) kept per compiled model, one per output size, least recent evicted.
MAX_RENDERERS = 4
_PROBE = ("import mujoco\n"
          "m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><light pos=\"0 0 1\"/>"
          "<geom size=\".1\" rgba=\"1 0 0 1\"/></worldbody></mujoco>')\n"
          "d = mujoco.MjData(m); mujoco.mj_forward(m, d)\n"
          "r = mujoco.Renderer(m, 16, 16); r.update_scene(d); img = r.render(); r.close()\n"
          "assert img.shape == (16, 16, 3) and img.max() > 0\n")


def _probe(backend: str) -> bool:
    """Can MuJoCo render with ``MUJOCO_GL=backend``? Tried in a child process."""
    env = dict(os.environ, MUJOCO_GL=backend)
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                              timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


_MODULE: list = []        # the imported mujoco module, or the SplBackendError to raise again


def _mujoco():
    """The mujoco module, imported after a working headless GL backend was chosen."""
    if not _MODULE:
        try:
            _MODULE.append(_import_mujoco())
        except SplBackendError as e:
            _MODULE.append(e)    # probing again would cost seconds and fail the same way
    if isinstance(_MODULE[0], SplBackendError):
        raise _MODULE[0]
    return _MODULE[0]


def _import_mujoco():
    if "mujoco" not in sys.modules and not os.environ.get("MUJOCO_GL"):
        for backend in ("egl", "osmesa"):
            if _probe(backend):
                os.environ["MUJOCO_GL"] = backend
                break
        else:
            raise SplBackendError("MuJoCo cannot render headless here: neither MUJOCO_GL=egl nor "
                                  f"MUJOCO_GL=osmesa works; install one with `{APT_HINT}`")
    try:
        import mujoco
    except ImportError as e:
        raise SplBackendError(f"the mujoco backend needs MuJoCo ({e}): "
                              "pip install 'spiral-dsl[scene]'") from None
    except RuntimeError as e:   # e.g. an invalid MUJOCO_GL
        raise SplBackendError(f"MuJoCo failed to load its GL backend: {e}; valid headless "
                              f"choices are MUJOCO_GL=egl or osmesa (`{APT_HINT}`)") from None
    return mujoco


def gl_backend() -> str:
    """The GL backend MuJoCo renders with in this process (``egl``, ``osmesa``, ...)."""
    _mujoco()
    return os.environ.get("MUJOCO_GL", "")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


_LIVE: weakref.WeakSet[_Scene] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    # free GL contexts before interpreter shutdown tears down PyOpenGL under them
    for scene in list(_LIVE):
        scene.close()


class _Scene:
    """One compiled scene model, its data, and its renderers (one per output size)."""

    def __init__(self, grid: int, objects: int, shadows: bool, msaa: int):
        mj = self.mj = _mujoco()
        self.grid, self.objects = grid, objects
        self.model = mj.MjModel.from_xml_string(S.scene_xml(grid, objects, shadows, msaa))
        self.data = mj.MjData(self.model)
        ids = [mj.mj_name2id(self.model, mj.mjtObj.mjOBJ_GEOM, f"slot{k}") for k in range(objects)]
        assert ids == list(range(ids[0], ids[0] + objects)), ids   # declared consecutively
        self.slots = slice(ids[0], ids[0] + objects)
        self.type_id = {name: int(getattr(mj.mjtGeom, f"mjGEOM_{name.upper()}"))
                        for name in ("sphere", "box", "cylinder", "capsule")}
        self.camera = mj.MjvCamera()
        self.camera.type = mj.mjtCamera.mjCAMERA_FIXED
        self.camera.fixedcamid = mj.mj_name2id(self.model, mj.mjtObj.mjOBJ_CAMERA, "main")
        self.renderers: OrderedDict[int, object] = OrderedDict()
        self.drawn = -1                 # key of the slot contents in the model (see render)
        mj.mj_forward(self.model, self.data)
        _LIVE.add(self)

    def renderer(self, size: int):
        r = self.renderers.get(size)
        if r is None:
            if len(self.renderers) >= MAX_RENDERERS:
                self.renderers.popitem(last=False)[1].close()
            # the offscreen buffer and the shapes' meshes are made from the model when a
            # renderer is made: size them per renderer instead of recompiling per output size
            vis = self.model.vis
            vis.global_.offwidth = vis.global_.offheight = size
            vis.quality.numslices, vis.quality.numstacks = S.tessellation(size)
            try:
                r = self.mj.Renderer(self.model, size, size)
            except Exception as e:  # the GL stack failed after a successful probe
                gl = os.environ.get("MUJOCO_GL", "")
                fix = (f"headless rendering needs `{APT_HINT}`" if gl else
                       "mujoco was imported before this backend could choose a headless GL: "
                       "set MUJOCO_GL=egl (or osmesa) before anything imports mujoco")
                raise SplBackendError(f"MuJoCo could not create a {size}×{size} renderer with "
                                      f"MUJOCO_GL={gl!r}: {e}; {fix}") from None
            self.renderers[size] = r
        else:
            self.renderers.move_to_end(size)
        return r

    def write(self, slots: _Slots) -> None:
        """Put ``slots`` into the model's object geoms and recompute positions."""
        m, sl = self.model, self.slots
        m.geom_type[sl] = slots.type
        m.geom_size[sl] = slots.size
        m.geom_pos[sl] = slots.pos
        m.geom_rgba[sl] = slots.rgba
        m.geom_group[sl] = slots.group
        m.geom_rbound[sl] = slots.rbound
        m.geom_aabb[sl] = slots.aabb
        self.mj.mj_forward(m, self.data)   # world poses (geom_xpos, geom_xmat) from geom_pos

    def render(self, slots: _Slots, size: int) -> np.ndarray:
        """H×W×3 uint8 image of the scene holding ``slots``."""
        if self.drawn != slots.key:   # skip rewriting what the model already holds
            self.write(slots)
            self.drawn = slots.key
        r = self.renderer(size)
        r.update_scene(self.data, camera=self.camera)
        return r.render()

    def close(self) -> None:
        for r in self.renderers.values():
            r.close()
        self.renderers.clear()


_VERSIONS = itertools.count(1)


class _Slots:
    """The objects of one canvas, as rows ready for the model's slot arrays."""

    __slots__ = ("type", "size", "pos", "rgba", "group", "rbound", "aabb", "count", "key")

    def __init__(self, objects: int):
        self.type = np.zeros(objects, np.int32)
        self.size = np.full((objects, 3), S.CELL / 2)
        self.pos = np.tile([0.0, 0.0, -1.0], (objects, 1))
        self.rgba = np.tile([0.0, 0.0, 0.0, 1.0], (objects, 1))
        self.group = np.full(objects, S.HIDDEN_GROUP, np.int32)
        self.rbound = np.full(objects, S.CELL / 2)
        self.aabb = np.zeros((objects, 6))
        self.aabb[:, 3:] = S.CELL / 2
        self.count = 0
        self.key = 0      # 0: empty (all empty slots are alike); else unique to these contents

    def add(self, type_id: int, size3, centre, rgb) -> None:
        k = self.count
        self.type[k] = type_id
        self.size[k] = size3
        self.pos[k] = centre
        self.rgba[k, :3] = rgb
        self.group[k] = S.SHOWN_GROUP
        half = (size3[0], size3[0], centre[2])     # half width, half width, half height
        self.aabb[k] = (0.0, 0.0, 0.0, *half)
        self.rbound[k] = math.sqrt(sum(h * h for h in half))
        self.count += 1
        self.key = next(_VERSIONS)


def _place_args(statement, grid: int):
    """Validate one statement before MuJoCo sees it; its geom type name, size, centre, colour."""
    if not isinstance(statement, Place):
        raise SplTypeError(f"the mujoco backend draws the scene domain's place statements, not "
                           f"{type(statement).__name__}").at(getattr(statement, "span", None))
    cell = statement.cell
    if not (isinstance(cell, tuple) and len(cell) == 2):
        raise SplRangeError(f"cell {cell!r} must be a pair of integers (i, j), "
                            f"0 <= i, j < grid={grid}").at(statement.span)
    for v, axis in zip(cell, "ij"):
        if isinstance(v, bool):   # check_core would take True for 1
            raise SplRangeError(f"cell {axis}={v!r} is out of range: cells are integers "
                                f"0 <= {axis} < grid={grid}").at(statement.span)
    if any(isinstance(v, Integral) and not isinstance(v, int) for v in cell):
        statement = Place(statement.shape, tuple(int(v) for v in cell), statement.size,
                          statement.color, statement.span)   # numpy integers from actions
    check_core(statement, {"grid": grid})
    name, size3, half_height = S.geom_params(statement.shape, statement.size)
    x, y = S.cell_centre(grid, *statement.cell)
    return name, size3, (x, y, half_height), tuple(float(c) for c in statement.color)


class SceneCanvas:
    """A scene being built: each executed ``place`` adds one object on the table."""

    def __init__(self, scene: _Scene, size: int):
        self._scene, self.size = scene, size
        self.grid, self.objects = scene.grid, scene.objects
        self._slots = _Slots(self.objects)
        self._image: np.ndarray | None = None     # cached until the next execute

    def execute(self, statement) -> None:
        if self._scene is None:
            raise SplStateError("this canvas is closed")
        name, size3, centre, rgb = _place_args(statement, self.grid)
        if self._slots.count >= self.objects:
            raise SplLimitError(f"more than objects={self.objects} objects in this scene: "
                                "raise the header's objects setting").at(statement.span)
        self._slots.add(self._scene.type_id[name], size3, centre, rgb)
        self._image = None

    def image(self) -> np.ndarray:
        if self._scene is None:
            raise SplStateError("this canvas is closed")
        if self._image is None:
            pixels = self._scene.render(self._slots, self.size)
            self._image = np.multiply(pixels, np.float32(1 / 255), dtype=np.float32)
        return self._image.copy()

    def close(self) -> None:
        self._scene = None


def _int_setting(settings: dict, key: str) -> int:
    lo, hi = INT_RANGES[key]
    v = settings.get(key)
    if not (isinstance(v, Integral) and not isinstance(v, bool) and lo <= v <= hi):
        raise SplRangeError(f"{key}={v!r} is out of range: an integer in [{lo}, {hi}]")
    return int(v)


class MujocoInterpreter:
    """The ``mujoco`` backend (domain ``scene``).

    ``shadows`` (default: env ``SPIRAL_MUJOCO_SHADOWS=1``) turns on shadow mapping and ``msaa``
    (default: env ``SPIRAL_MUJOCO_MSAA``, else 0) multisampling; both off render a 64² frame in
    about a millisecond instead of tens. Compiled models are cached per header.
    """

    name = "mujoco"
    domains = ("scene",)

    def __init__(self, shadows: bool | None = None, msaa: int | None = None):
        self.shadows = _env_flag("SPIRAL_MUJOCO_SHADOWS") if shadows is None else bool(shadows)
        if msaa is None:
            msaa = os.environ.get("SPIRAL_MUJOCO_MSAA", "0").strip() or "0"
        try:
            self.msaa = int(msaa)
        except ValueError:
            raise SplRangeError(f"msaa={msaa!r} must be an integer number of samples in [0, 16]") from None
        if not 0 <= self.msaa <= 16:
            raise SplRangeError(f"msaa={self.msaa} is out of range [0, 16]")
        self._scenes: OrderedDict[tuple[int, int], _Scene] = OrderedDict()

    def scene(self, settings: dict) -> _Scene:
        """The compiled model for a header's ``grid`` and ``objects`` (compiled on first use).
        An evicted model stays valid for the canvases still drawing on it."""
        key = (_int_setting(settings, "grid"), _int_setting(settings, "objects"))
        scene = self._scenes.get(key)
        if scene is None:
            if len(self._scenes) >= MAX_MODELS:
                self._scenes.popitem(last=False)
            scene = self._scenes[key] = _Scene(*key, self.shadows, self.msaa)
        else:
            self._scenes.move_to_end(key)
        return scene

    def start(self, domain: str, settings: dict, size: int | None = None) -> SceneCanvas:
        if domain != "scene":
            raise SplTypeError(f"the mujoco backend draws the 'scene' domain, not {domain!r}")
        lo, hi = INT_RANGES["canvas"]
        size = _int_setting(settings, "canvas") if size is None else size
        if not (isinstance(size, Integral) and not isinstance(size, bool) and lo <= size <= hi):
            raise SplRangeError(f"size={size!r} is out of range: an integer in [{lo}, {hi}] pixels")
        return SceneCanvas(self.scene(settings), int(size))

    def close(self) -> None:
        """Free every GL context of this interpreter (it recompiles on the next start)."""
        for scene in self._scenes.values():
            scene.close()
        self._scenes.clear()


def project_point(settings: dict, point, size: int | None = None) -> tuple[float, float]:
    """Pixel coordinates (x right, y down; pixel (r, c) covers [c, c+1) × [r, r+1)) at which
    the scene camera of ``settings`` sees the world ``point`` (x, y, z in metres).

    Computed from the compiled model (the camera's pose after ``mj_forward`` and its ``fovy``),
    the pinhole MuJoCo renders with, independently of how :mod:`.mujoco_scene` aimed it.
    """
    scene = _projection_scene(_int_setting(settings, "grid"))
    m, d = scene.model, scene.data
    size = _int_setting(settings, "canvas") if size is None else int(size)
    cam = scene.camera.fixedcamid
    v = np.asarray(point, dtype=float) - d.cam_xpos[cam]
    axes = d.cam_xmat[cam].reshape(3, 3)    # columns: camera right, up, and backwards
    depth = -(v @ axes[:, 2])
    f = (size / 2) / math.tan(math.radians(float(m.cam_fovy[cam])) / 2)
    return (size / 2 + f * (v @ axes[:, 0]) / depth, size / 2 - f * (v @ axes[:, 1]) / depth)


def project_cell(settings: dict, cell: tuple[int, int], size: int | None = None,
                 height: float = 0.0) -> tuple[float, float]:
    """Pixel coordinates (see :func:`project_point`) of the point ``height`` metres above the
    centre of ``cell`` = (i, j), column i and row j, at output size ``size``."""
    x, y = S.cell_centre(_int_setting(settings, "grid"), *cell)
    return project_point(settings, (x, y, height), size)


@functools.lru_cache(maxsize=16)
def _projection_scene(grid: int) -> _Scene:
    return _Scene(grid, 1, False, 0)
