"""The MuJoCo scene backend, rendered with real MuJoCo (headless), as properties."""
import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiral_dsl import (
    Color,
    Move,
    Place,
    Point,
    Program,
    SplLimitError,
    SplRangeError,
    SplStateError,
    SplTypeError,
)
from spiral_dsl.ast import SHAPES, SIZE_CLASSES
from spiral_dsl.interpreters import get_interpreter
from spiral_dsl.interpreters import mujoco_scene as S
from spiral_dsl.interpreters.mujoco import MujocoInterpreter, project_cell, project_point
from spiral_dsl.settings import DEFAULTS
from spiral_dsl.testing import colors, programs

ROOT = Path(__file__).resolve().parents[2]
SCENE = dict(DEFAULTS["scene"])
MJ = get_interpreter("mujoco")
LEVELS = (0.0, 1 / 3, 2 / 3, 1.0)   # the scene action space's colour levels
BLACK = Color(0.0, 0.0, 0.0)

cells = st.tuples(st.integers(0, SCENE["grid"] - 1), st.integers(0, SCENE["grid"] - 1))
palette = st.builds(Color, *[st.sampled_from(LEVELS)] * 3)
# colours a viewer can tell from the grey table: the palette, and any colour far from grey
visible = st.one_of(palette, colors().filter(lambda c: max(abs(v - 0.5) for v in c) > 0.25))
places = st.builds(Place, st.sampled_from(SHAPES), cells, st.sampled_from(SIZE_CLASSES), visible)


def render(statements, size=None, settings=SCENE, interp=MJ):
    canvas = interp.start("scene", settings, size)
    try:
        for s in statements:
            canvas.execute(s)
        return canvas.image()
    finally:
        canvas.close()


EMPTY = {size: render([], size) for size in (64, 128)}


def changed(image, size, threshold=0.02):
    return np.abs(image - EMPTY[size]).max(-1) > threshold


def box_pixels(place, size):
    """Pixel bounds (x0, x1, y0, y1) of the projected bounding box of a placed object."""
    _, size3, half_height = S.geom_params(place.shape, place.size)
    x, y = S.cell_centre(SCENE["grid"], *place.cell)
    w = size3[0] * math.sqrt(2)    # the cube is turned 45° about the vertical
    corners = [project_point(SCENE, (x + dx, y + dy, z), size)
               for dx in (-w, w) for dy in (-w, w) for z in (0.0, 2 * half_height)]
    xs, ys = zip(*corners)
    return min(xs), max(xs), min(ys), max(ys)


# ------------------------------------------------------------------ determinism, replay
@settings(max_examples=20)
@given(st.lists(places, max_size=5))
def test_deterministic_and_statement_by_statement_equals_whole_render(scene):
    whole = render(scene)
    np.testing.assert_array_equal(render(scene), whole)
    canvas = MJ.start("scene", SCENE)
    for k, statement in enumerate(scene):
        canvas.execute(statement)
        np.testing.assert_array_equal(canvas.image(), render(scene[:k + 1]))
    np.testing.assert_array_equal(canvas.image(), whole)


@settings(max_examples=10)
@given(programs(domain="scene", core_only=True, max_statements=5))
def test_program_frames_end_at_its_render(p):
    image = p.render()
    np.testing.assert_array_equal(p.render(), image)
    frames = list(p.frames())
    assert len(frames) == len(p)
    if frames:
        np.testing.assert_array_equal(frames[-1], image)


@settings(max_examples=10)
@given(st.lists(places, min_size=1, max_size=5), st.lists(places, min_size=1, max_size=5))
def test_interleaved_canvases_do_not_see_each_other(a, b):
    # one compiled model serves every canvas of a header, as a batch of environments uses it
    ca, cb = MJ.start("scene", SCENE), MJ.start("scene", SCENE)
    for sa, sb in itertools.zip_longest(a, b):
        if sa is not None:
            ca.execute(sa)
        image_a = ca.image()
        if sb is not None:
            cb.execute(sb)
        cb.image()
    np.testing.assert_array_equal(image_a, render(a))
    np.testing.assert_array_equal(cb.image(), render(b))


# ------------------------------------------------------------------ the empty scene
def test_empty_scene_shows_only_the_table():
    np.testing.assert_array_equal(Program.parse("scene").render(), EMPTY[64])
    # hidden slots leave no trace: a header with room for 64 objects renders the same table
    np.testing.assert_array_equal(render([], settings={**SCENE, "objects": 64}), EMPTY[64])
    table = np.array([EMPTY[64][int(py), int(px)] for i in range(16) for j in range(16)
                      for px, py in [project_cell(SCENE, (i, j), 64)]])
    np.testing.assert_array_equal(table, np.broadcast_to(table[0], table.shape))  # uniform top
    assert np.abs(table[0] - np.array(S.TABLE_RGBA[:3])).max() < 0.1        # lit grey table
    assert np.abs(EMPTY[64][0, 0] - table[0]).max() > 0.2                       # floor around it


# ------------------------------------------------------------------ objects
@settings(max_examples=40)
@given(places)
def test_each_object_shows_at_its_cell_in_its_colour(place):
    image = render([place], 128)
    mask = changed(image, 128)
    _, _, half_height = S.geom_params(place.shape, place.size)
    px, py = project_cell(SCENE, place.cell, 128, height=half_height)
    assert mask[int(py), int(px)], "the object's centre projects onto the object"
    x0, x1, y0, y1 = box_pixels(place, 128)
    ys, xs = np.nonzero(mask)
    assert xs.min() >= math.floor(x0) - 1 and xs.max() <= x1 + 1
    assert ys.min() >= math.floor(y0) - 1 and ys.max() <= y1 + 1
    # mostly ambient + headlight: the object's mean colour is its colour, slightly shaded
    mean = image[mask].mean(0)
    assert np.abs(mean - np.array(list(place.color))).max() < 0.12, (mean, place.color)


def test_cells_map_to_columns_and_rows_and_all_are_visible():
    for grid in (1, 4, 16, 64):
        settings_ = {**SCENE, "grid": grid}
        px = np.array([[project_cell(settings_, (i, j), 64) for i in range(grid)]
                       for j in range(grid)])          # [row j, column i, (x, y)]
        assert np.all(np.diff(px[:, :, 0], axis=1) > 0)  # i is the column: x grows with i
        assert np.all(np.diff(px[:, :, 1], axis=0) > 0)  # j is the row: y grows with j
        assert np.all((px >= 0.5) & (px <= 63.5))
        for i, j in itertools.product((0, grid - 1), repeat=2):   # tall objects stay in view
            tx, ty = project_cell(settings_, (i, j), 64, height=S.max_height())
            assert 0 <= tx <= 64 and 0 <= ty <= 64
    for shape, i, j in itertools.product(SHAPES, (0, 15), (0, 15)):   # whole objects, too
        x0, x1, y0, y1 = box_pixels(Place(shape, (i, j), "large", BLACK), 64)
        assert 0 <= x0 and x1 <= 64 and 0 <= y0 and y1 <= 64, (shape, i, j)
    corners = [project_cell({**SCENE, "grid": 1024}, (i, j), 64, height=h)
               for i in (0, 1023) for j in (0, 1023) for h in (0.0, S.max_height())]
    assert all(0 < v < 64 for xy in corners for v in xy)   # the largest grid fits too


@pytest.mark.parametrize("size_class", ["medium", "large"])
def test_four_shapes_give_four_silhouettes_at_64(size_class):
    for cell in [(8, 8), (1, 14), (14, 1)]:
        masks = {shape: changed(render([Place(shape, cell, size_class, BLACK)]), 64)
                 for shape in SHAPES}
        for a, b in itertools.combinations(SHAPES, 2):
            assert (masks[a] ^ masks[b]).sum() >= 5, (cell, a, b)


@settings(max_examples=25)
@given(st.sampled_from(SHAPES), cells)
def test_larger_size_never_covers_fewer_pixels(shape, cell):
    masks = [changed(render([Place(shape, cell, size, BLACK)]), 64) for size in SIZE_CLASSES]
    counts = [int(m.sum()) for m in masks]
    assert counts == sorted(counts) and 0 < counts[0] < counts[-1], counts
    for small, large in itertools.pairwise(masks):   # a smaller object lies inside a larger
        assert (small & ~large).sum() <= 2


def test_occlusion_follows_depth_not_placement_order():
    # interpenetrating objects whose surfaces cross (none coincide): the depth test decides
    near = Place("sphere", (8, 9), "medium", Color(1, 0, 0))
    far = Place("cube", (8, 8), "large", Color(0, 0, 1))
    both = render([near, far])
    np.testing.assert_array_equal(render([far, near]), both)
    assert changed(both, 64).sum() > changed(render([far]), 64).sum()


@settings(max_examples=10)
@given(st.sampled_from(SHAPES), cells, st.sampled_from(SIZE_CLASSES), palette, palette)
def test_where_surfaces_coincide_the_later_object_shows(shape, cell, size, first, second):
    later = Place(shape, cell, size, second)
    np.testing.assert_array_equal(render([Place(shape, cell, size, first), later]), render([later]))


# ------------------------------------------------------------------ limits and bad values
def test_more_than_objects_raises_and_keeps_the_scene():
    with pytest.raises(SplLimitError):
        Program.parse("scene objects=1\nplace cube at (1, 1) size small color #ff0000\n"
                      "place cube at (2, 2) size small color #ff0000")
    canvas = MJ.start("scene", {**SCENE, "objects": 1})
    canvas.execute(Place("cube", (1, 1), "small", Color(1, 0, 0)))
    before = canvas.image()
    with pytest.raises(SplLimitError, match="objects=1"):
        canvas.execute(Place("cube", (2, 1), "small", Color(1, 0, 0)))
    np.testing.assert_array_equal(canvas.image(), before)


@pytest.mark.parametrize("place, needle", [
    (Place("cube", (16, 0), "small", BLACK), "i=16"),
    (Place("cube", (0, -1), "small", BLACK), "j=-1"),
    (Place("cube", (1.5, 2), "small", BLACK), "i=1.5"),
    (Place("cube", (True, 2), "small", BLACK), "i=True"),
    (Place("cube", (1,), "small", BLACK), "pair"),
    (Place("cone", (1, 1), "small", BLACK), "cone"),
    (Place("cube", (1, 1), "huge", BLACK), "huge"),
    (Place("cube", (1, 1), "small", Color(1.2, 0, 0)), "r=1.2"),
    (Place("cube", (1, 1), "small", Color(0, -0.1, 0)), "g=-0.1"),
    (Place("cube", (1, 1), "small", Color(0, 0, float("nan"))), "nan"),
])
def test_bad_values_raise_range_errors_before_touching_mujoco(place, needle):
    canvas = MJ.start("scene", SCENE)
    canvas.execute(Place("sphere", (3, 3), "large", Color(0, 1, 0)))
    before = canvas.image()
    with pytest.raises(SplRangeError, match=needle):
        canvas.execute(place)
    np.testing.assert_array_equal(canvas.image(), before)


def test_wrong_statement_domain_and_size_raise():
    with pytest.raises(SplTypeError):
        MJ.start("scene", SCENE).execute(Move(Point(1, 1)))
    with pytest.raises(SplTypeError):
        MJ.start("paint", SCENE)
    for size in (0, 5000, 64.0):
        with pytest.raises(SplRangeError, match="size"):
            MJ.start("scene", SCENE, size)
    with pytest.raises(SplRangeError, match="grid=0"):
        MJ.start("scene", {**SCENE, "grid": 0})
    canvas = MJ.start("scene", SCENE)
    canvas.close()
    canvas.close()   # idempotent
    with pytest.raises(SplStateError, match="closed"):
        canvas.execute(Place("cube", (1, 1), "small", BLACK))


def test_numpy_integer_cells_render_like_ints():
    a = Place("capsule", (np.int64(4), np.int32(11)), "medium", Color(0, 0, 1))
    np.testing.assert_array_equal(render([a]), render([Place("capsule", (4, 11), "medium", Color(0, 0, 1))]))


# ------------------------------------------------------------------ resolution, quality
@pytest.mark.parametrize("size", [17, 200, 1000])
def test_any_resolution_keeps_objects_at_their_cells(size):
    place = Place("cylinder", (12, 5), "large", Color(1, 1, 0))
    image, empty = render([place], size), render([], size)
    assert image.shape == (size, size, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    px, py = project_cell(SCENE, place.cell, size, height=S.SIZE_RADIUS["large"])
    assert np.abs(image[int(py), int(px)] - empty[int(py), int(px)]).max() > 0.2


def test_shadows_and_msaa_are_options(monkeypatch):
    place = Place("capsule", (8, 8), "large", Color(1, 0, 0))
    fancy = MujocoInterpreter(shadows=True, msaa=4)
    image = render([place], 128, interp=fancy)
    assert not np.array_equal(image, render([place], 128))
    px, py = project_cell(SCENE, place.cell, 128, height=0.16)
    assert np.abs(image[int(py), int(px)] - [1, 0, 0]).max() < 0.15
    monkeypatch.setenv("SPIRAL_MUJOCO_SHADOWS", "1")
    monkeypatch.setenv("SPIRAL_MUJOCO_MSAA", "2")
    assert (MujocoInterpreter().shadows, MujocoInterpreter().msaa) == (True, 2)
    monkeypatch.setenv("SPIRAL_MUJOCO_MSAA", "lots")
    with pytest.raises(SplRangeError, match="msaa"):
        MujocoInterpreter()


# ------------------------------------------------------------------ headless GL selection
def _python(code: str, **env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=180)


def test_gl_is_chosen_lazily_and_headless():
    done = _python(
        "import sys, os, spiral_dsl, spiral_dsl.interpreters.mujoco as m\n"
        "assert 'mujoco' not in sys.modules and 'MUJOCO_GL' not in os.environ\n"
        "print(m.gl_backend(), os.environ['MUJOCO_GL'])\n")
    assert done.returncode == 0, done.stderr
    chosen, exported = done.stdout.split()
    assert chosen == exported and chosen in ("egl", "osmesa")


def test_a_users_mujoco_gl_is_respected(tmp_path):
    out = tmp_path / "osmesa.json"
    done = _python(
        "import json, sys\n"
        "from spiral_dsl import Color, Place\n"
        "from spiral_dsl.interpreters.mujoco import MujocoInterpreter, gl_backend\n"
        "c = MujocoInterpreter().start('scene', {'canvas': 64, 'grid': 16, 'objects': 5})\n"
        "c.execute(Place('cube', (8, 8), 'large', Color(1, 0, 0)))\n"
        f"json.dump([gl_backend(), c.image().tolist()], open({str(out)!r}, 'w'))\n",
        MUJOCO_GL="osmesa")
    assert done.returncode == 0, done.stderr
    backend, image = json.loads(out.read_text())
    assert backend == "osmesa"
    # the same scene through another GL implementation: the same picture up to rasterisation
    ours = render([Place("cube", (8, 8), "large", Color(1, 0, 0))])
    assert np.abs(np.array(image) - ours).mean() < 0.01


def test_no_working_gl_names_the_packages():
    # PyOpenGL refuses both headless platforms when told to use another one
    done = _python(
        "from spiral_dsl import SplBackendError\n"
        "from spiral_dsl.interpreters.mujoco import gl_backend\n"
        "try:\n    gl_backend()\nexcept SplBackendError as e:\n    print(e)\n",
        PYOPENGL_PLATFORM="glx")
    assert done.returncode == 0, done.stderr
    assert "libegl1" in done.stdout and "libosmesa6" in done.stdout and "apt-get" in done.stdout
