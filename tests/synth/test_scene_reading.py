"""Reading scene renders: projected boxes, visible pixels, colour levels, unexplained regions."""
import random

import numpy as np
import pytest

from spiral_dsl.actions import ActionSpec
from spiral_dsl.generate import random_actions
from synth.mcmc import SceneRenderer
from synth.scene_reading import COLOURS, EPS, reader

SPEC = ActionSpec.for_domain("scene", {"canvas": 64, "grid": 16, "objects": 5})
RENDER = SceneRenderer(SPEC)
READ = reader(SPEC, 64)


def one_object(seed):
    return random_actions(SPEC, 1, random.Random(seed), "uniform")[0]


def test_reader_is_shared_and_empty_is_the_empty_render():
    assert reader(SPEC, 64) is READ and reader(SPEC, 32) is not READ
    np.testing.assert_array_equal(READ.empty, RENDER([]))


@pytest.mark.parametrize("seed", range(10000, 10012))
def test_box_holds_the_object_and_visible_finds_its_pixels(seed):
    obj = one_object(seed)
    image = RENDER([obj])
    drawn = READ.foreground(image)
    assert drawn.any()
    inside = np.zeros_like(drawn)
    inside[READ.box(obj, pad=0)] = True
    assert not (drawn & ~inside).any(), "a drawn pixel lies outside the projected box"
    assert inside.sum() <= 4 * drawn.sum() + 16          # and the box is not loose
    seen = READ.visible(image, obj)
    assert (seen & drawn).sum() >= 0.9 * drawn.sum()
    assert READ.colour_of(image, drawn) == {c: obj[c] for c in COLOURS}


def test_regions_split_touching_objects_of_different_hue():
    a = {"shape": 1, "cell": 5 * 16 + 7, "size": 2, "red": 3, "green": 0, "blue": 0}
    b = {"shape": 1, "cell": 5 * 16 + 8, "size": 2, "red": 0, "green": 0, "blue": 3}
    target = RENDER([a, b])
    empty = READ.empty
    residual = np.abs(empty - target).sum(-1)
    regions = READ.regions(target, residual, READ.foreground(target))
    assert len(regions) == 2
    colours = sorted(tuple(READ.colour_of(target, r).values()) for r in regions)
    assert colours == [(0, 0, 3), (3, 0, 0)]
    assert READ.regions(target, np.zeros_like(residual), READ.foreground(target)) == []


def test_placements_rank_the_true_placement_first_for_a_lone_object():
    hits = 0
    for seed in range(10020, 10032):
        obj = one_object(seed)
        image = RENDER([obj])
        region = READ.foreground(image)
        found = READ.placements(region, set(range(256)), k=8)
        assert len(found) == 8 and len(set(found)) == 8
        hits += (obj["cell"], obj["shape"], obj["size"]) in found
        only = READ.placements(region, {obj["cell"]}, k=8, shape=obj["shape"], size=obj["size"])
        assert only == [(obj["cell"], obj["shape"], obj["size"])]
    assert hits >= 10, f"the true placement was in the top 8 for only {hits} of 12 objects"
    assert EPS < 1e-3
