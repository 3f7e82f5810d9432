"""synth.evaluate: the figures of docs/results.md, as functions ``spiral eval`` and scripts call."""
import numpy as np
import pytest

from spiral_dsl import SplRangeError
from synth.data import load_set
from synth.evaluate import evaluate_paint, evaluate_scenes, spread
from synth.synthesize import mse, synthesize


def test_spread_covers_the_set_evenly():
    assert spread(1000, 3).tolist() == [0, 500, 999]
    assert spread(5, 10).tolist() == [0, 1, 2, 3, 4]          # never more than the set
    assert spread(1000, 1).tolist() == [0]
    for bad in (0, -3, 2.5, True):
        with pytest.raises(SplRangeError, match="limit="):
            spread(10, bad)


def test_evaluate_paint_is_synthesize_on_spread_images_with_their_index_as_seed():
    seen = []
    result = evaluate_paint(limit=2, samples=2, budget=3, on_image=lambda k, e, s: seen.append((k, e)))
    images, _ = load_set("mnist-eval", size=64)
    expected = [mse(synthesize(images[i], samples=2, budget=3, seed=i).render(), images[i])
                for i in (0, 999)]
    assert [k for k, _ in seen] == [0, 1]
    assert [e for _, e in seen] == pytest.approx(expected)
    assert result["mean_mse"] == pytest.approx(np.mean(expected))
    assert result["blank_canvas_mse"] == pytest.approx(np.mean([(1 - images[i]) ** 2 for i in (0, 999)]))
    assert (result["images"], result["method"], result["checkpoint"], result["budget"]) == \
        (2, "beam+fit", "shipped", 3)
    assert result["seconds_per_image"] > 0


@pytest.mark.parametrize("kwargs,words", [
    ({"method": "mcmc"}, "method='mcmc' is not one of"),
    ({"limit": 0}, "limit=0 must be an integer >= 1"),
    ({"samples": -1}, "samples=-1"),
    ({"threads": 0}, "threads=0"),
    ({"candidates": 8}, "does not use them"),
    ({"method": "greedy", "polish": -1}, "polish=-1 must be an integer >= 0"),
    ({"refine_seconds": float("nan")}, "refine_seconds=nan"),
    ({"budget": 0}, "budget=0 must be an integer >= 1"),
    ({"method": "policy", "budget": 5}, "budget=5 sets the fit steps of .*, not of method='policy'"),
])
def test_evaluate_paint_rejects_bad_arguments(kwargs, words):
    with pytest.raises(SplRangeError, match=words.replace("(", r"\(").replace("[", r"\[")):
        evaluate_paint(**kwargs)


def test_evaluate_scenes_compares_the_policy_with_mcmc():
    result = evaluate_scenes(count=2, samples=2, mcmc_multiples=(1,))
    assert (result["domain"], result["scenes"]) == ("scene", 2)
    assert [r["method"] for r in result["rows"]] == ["policy, 1 sample", "policy, 2 samples",
                                                      "policy+refine", "repair from an empty scene",
                                                      "MCMC, 1x calls"]
    default = result["rows"][2]
    assert result["rows"][4]["budget"] == max(1, round(default["mean_renderer_calls"]))
    for row in result["rows"]:
        assert 0 <= row["exact_fraction"] <= row["near_fraction"] <= 1
