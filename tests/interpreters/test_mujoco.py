"""The MuJoCo backend (real MuJoCo, headless), as property tests."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiral_dsl import Color, Place, Program, SplLimitError, SplRangeError
from spiral_dsl.interpreters import get_interpreter
from spiral_dsl.interpreters.mujoco import project_cell
from spiral_dsl.settings import DEFAULTS
from spiral_dsl.testing import programs, statements

SCENE = dict(DEFAULTS["scene"])
MJ = get_interpreter("mujoco")


def render(places, settings=SCENE, size=None):
    c = MJ.start("scene", settings, size)
    for p in places:
        c.execute(p)
    return c.image()


EMPTY = render([])


@settings(max_examples=15)
@given(programs(domain="scene", core_only=True, max_statements=5))
def test_deterministic_and_replay_equals_render(p):
    a, b = p.render(), p.render()
    np.testing.assert_array_equal(a, b)
    frames = list(p.frames())
    if frames:
        np.testing.assert_array_equal(frames[-1], a)


def test_empty_scene_shows_only_the_table():
    assert Program.parse("scene").render().shape == (64, 64, 3)
    np.testing.assert_array_equal(Program.parse("scene").render(), EMPTY)
    centre = EMPTY[28:36, 28:36].reshape(-1, 3).mean(0)
    np.testing.assert_allclose(centre, EMPTY[30, 30], atol=0.05)   # a uniform table top


@settings(max_examples=30)
@given(statements("scene", SCENE))
def test_each_object_changes_pixels_near_its_cell_with_its_colour(place):
    place = Place(place.shape, place.cell, "large", place.color)
    image = render([place], size=128)
    empty = render([], size=128)
    changed = np.abs(image - empty).max(-1) > 0.08
    px, py = project_cell(SCENE, place.cell, 128, height=0.05)
    ys, xs = np.nonzero(changed)
    if not len(xs):   # an object the colour of the table is invisible, nothing to check
        assert np.abs(np.array(list(place.color)) - empty[int(py), int(px)]).max() < 0.12
        return
    assert np.min((xs + 0.5 - px) ** 2 + (ys + 0.5 - py) ** 2) < 4 ** 2
    mean = image[changed].mean(0)
    # headlight ambient 0.5 + diffuse 0.5: lit faces show the colour, side faces a bit darker
    assert np.abs(mean - np.array(list(place.color))).max() < 0.3, (mean, place.color)


def test_four_shapes_four_silhouettes():
    masks = []
    for shape in ("sphere", "cube", "cylinder", "capsule"):
        image = render([Place(shape, (8, 8), "large", Color(0.0, 0.0, 0.0))], size=128)
        masks.append(np.abs(image - render([], size=128)).max(-1) > 0.1)
    for i in range(4):
        for j in range(i + 1, 4):
            assert (masks[i] ^ masks[j]).sum() > 20, (i, j)


@pytest.mark.parametrize("shape", ["sphere", "cube", "cylinder", "capsule"])
def test_larger_size_never_covers_fewer_pixels(shape):
    counts = [(np.abs(render([Place(shape, (7, 9), size, Color(0.9, 0.1, 0.1))]) - EMPTY).max(-1) > 0.05).sum()
              for size in ("small", "medium", "large")]
    assert counts == sorted(counts) and counts[0] > 0


def test_object_limit_and_ranges():
    with pytest.raises(SplLimitError):
        Program.parse("scene objects=1\nplace cube at (1, 1) size small color #ff0000\n"
                      "place cube at (2, 2) size small color #ff0000")
    c = MJ.start("scene", {**SCENE, "objects": 1})
    c.execute(Place("cube", (1, 1), "small", Color(1, 0, 0)))
    with pytest.raises(SplLimitError):
        c.execute(Place("cube", (2, 1), "small", Color(1, 0, 0)))
    with pytest.raises(SplRangeError):
        MJ.start("scene", SCENE).execute(Place("cube", (16, 1), "small", Color(1, 0, 0)))


def test_any_resolution():
    p = Program.load(__file__.rsplit("/tests/", 1)[0] + "/examples/table.spl")
    assert p.render(size=200).shape == (200, 200, 3)
    assert st is not None
