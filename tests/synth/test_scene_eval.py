"""Scene-inversion evaluation: object matching, held-out scenes, aggregated MCMC figures."""
import numpy as np
import pytest

from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplRangeError, SplTypeError
from synth.data import scene_targets
from synth.mcmc import SceneRenderer, mcmc
from synth.scene_eval import TRAINING_SEEDS_BELOW, evaluate_mcmc, held_out_scenes, object_recovery

SPEC = ActionSpec.for_domain("scene", {"canvas": 64, "objects": 5})


def obj(shape, col, row, size=1, rgb=(0, 1, 2), grid=16):
    return {"shape": shape, "cell": row * grid + col, "size": size,
            "red": rgb[0], "green": rgb[1], "blue": rgb[2]}


A, B, C = obj(0, 3, 3), obj(1, 8, 2), obj(2, 12, 12, size=2, rgb=(3, 3, 0))


# ------------------------------------------------------------------ object_recovery
def test_identical_scenes_in_any_order_recover_every_object():
    assert object_recovery([A, B, C], [C, A, B]) == {"objects": 3, "exact": 3, "near": 3,
                                                      "extra": 0}


def test_duplicate_predictions_count_once():
    assert object_recovery([A, B], [B, A, A, dict(A)]) == {"objects": 2, "exact": 2,
                                                            "near": 2, "extra": 0}
    assert object_recovery([A], [B, B]) == {"objects": 1, "exact": 0, "near": 0, "extra": 1}


@pytest.mark.parametrize("pred, exact, near", [
    (obj(0, 3, 3), 1, 1),                  # identical
    (obj(0, 4, 4), 0, 1),                  # diagonal neighbour (Chebyshev 1)
    (obj(0, 2, 3), 0, 1),                  # left neighbour
    (obj(0, 3, 3, size=2), 0, 1),          # same cell, other size: near, not exact
    (obj(0, 3, 3, rgb=(3, 3, 3)), 0, 1),   # same cell, other colour: near, not exact
    (obj(0, 5, 3), 0, 0),                  # two columns away
    (obj(0, 4, 5), 0, 0),                  # two rows away
    (obj(1, 3, 3), 0, 0),                  # same cell, other shape
])
def test_exact_versus_near(pred, exact, near):
    counts = object_recovery([A], [pred])
    assert counts == {"objects": 1, "exact": exact, "near": near, "extra": 1 - near}


def test_rows_do_not_wrap_across_the_grid_edge():
    # cell 16 (col 0, row 1) follows cell 15 (col 15, row 0) in index but is 15 columns away
    assert object_recovery([obj(0, 15, 0)], [obj(0, 0, 1)])["near"] == 0


def test_near_matching_is_one_to_one_and_optimal():
    # P1 is near both T1 and T2, P2 only T1: greedy T1-P1 leaves T2 unmatched; optimal gets 2
    t1, t2 = obj(0, 5, 5), obj(0, 7, 5)
    p1, p2 = obj(0, 6, 5, rgb=(1, 1, 1)), obj(0, 4, 5, rgb=(1, 1, 1))
    assert object_recovery([t1, t2], [p1, p2])["near"] == 2
    assert object_recovery([t1, t2], [p1]) == {"objects": 2, "exact": 0, "near": 1, "extra": 0}


def test_an_empty_prediction_recovers_nothing():
    assert object_recovery([A, B], []) == {"objects": 2, "exact": 0, "near": 0, "extra": 0}


@pytest.mark.parametrize("pred, error, message", [
    ([{"shape": 0, "cell": 3}], SplRangeError, r"pred_actions\[0\]\['size'\]=None"),
    ([obj(0, 0, 16)], SplRangeError, r"'cell'\]=256 is out of range \[0, 255\]"),
    ([dict(A, red=-1)], SplRangeError, r"'red'\]=-1 is out of range"),
    ("abc", SplTypeError, r"list of action dicts"),
    ([3], SplTypeError, r"pred_actions\[0\] must be an action dict"),
])
def test_malformed_objects_raise(pred, error, message):
    with pytest.raises(error, match=message):
        object_recovery([A], pred)


# ------------------------------------------------------------------ held-out scenes
def test_held_out_scenes_are_random_scenes_drawn_like_training_targets():
    scenes, targets = held_out_scenes(SPEC, count=6)
    assert targets.shape == (6, 64, 64, 3) and targets.dtype == np.float32
    assert targets.min() >= 0 and targets.max() <= 1
    for actions in scenes:
        assert 1 <= len(actions) <= 5
        assert len({a["cell"] for a in actions}) == len(actions)
    again, _ = held_out_scenes(SPEC, count=6)
    assert again == scenes
    # the same generator as the training targets, at a seed training never uses
    np.testing.assert_array_equal(targets, scene_targets(SPEC, count=6, seed=12345))
    other, _ = held_out_scenes(SPEC, count=6, seed=TRAINING_SEEDS_BELOW)
    assert other != scenes


@pytest.mark.parametrize("kwargs, message", [
    ({"seed": 0}, r"seed=0 is out of range: an integer >= 10000 \(seeds below it are training"),
    ({"seed": TRAINING_SEEDS_BELOW - 1}, r"seed=9999 is out of range"),
    ({"count": 0}, r"count=0 is out of range: an integer >= 1"),
])
def test_held_out_scenes_refuse_training_seeds_and_empty_sets(kwargs, message):
    with pytest.raises(SplRangeError, match=message):
        held_out_scenes(SPEC, **kwargs)


# ------------------------------------------------------------------ evaluate_mcmc
def test_evaluate_mcmc_aggregates_over_scenes():
    scenes = held_out_scenes(SPEC, count=3)
    report = evaluate_mcmc(SPEC, scenes, budget=40, seed=0)
    assert report["scenes"] == 3 and report["budget"] == 40
    assert report["objects"] == sum(len(a) for a in scenes[0])
    assert 0 <= report["exact_fraction"] <= report["near_fraction"] <= 1
    assert report["mean_renderer_calls"] == 40
    assert 0 < report["mean_mse"] < 0.1 and report["seconds_per_scene"] > 0
    assert evaluate_mcmc(SPEC, scenes, budget=40, seed=0)["mean_mse"] == report["mean_mse"]


def test_evaluate_mcmc_counts_an_exact_recovery():
    """A scene that is the chain's first state (drawn from the seed alone): recovered exactly."""
    _, targets = held_out_scenes(SPEC, count=1)
    first = mcmc(targets[0], spec=SPEC, budget=1, seed=0).actions
    report = evaluate_mcmc(SPEC, ([first], SceneRenderer(SPEC)(first)[None]), budget=50)
    assert report["exact_fraction"] == 1 and report["scene_exact_fraction"] == 1
    assert report["mean_mse"] == 0 and report["mean_renderer_calls"] == 1


def test_evaluate_mcmc_rejects_mismatched_scenes():
    scenes, targets = held_out_scenes(SPEC, count=2)
    with pytest.raises(SplRangeError, match="2 action lists and 1 targets"):
        evaluate_mcmc(SPEC, (scenes, targets[:1]), budget=5)
