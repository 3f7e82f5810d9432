"""The checkpoints that ship with the package work out of the box (real renderers)."""
import numpy as np
import pytest

from synth.synthesize import default_checkpoint, mse, synthesize

pytestmark = pytest.mark.slow


def test_shipped_mnist_checkpoint_beats_the_blank_canvas():
    from synth.data import load_set
    assert default_checkpoint("paint").is_file(), "synth/checkpoints/mnist.pt must ship"
    assert default_checkpoint("paint").stat().st_size <= 20 * 2 ** 20
    images, _ = load_set("mnist-eval")
    picks = images[np.linspace(0, len(images) - 1, 10).astype(int)]
    scores = [mse(synthesize(t, seed=k).render(), t) for k, t in enumerate(picks)]
    blank = [mse(np.ones_like(t), t) for t in picks]
    assert np.mean(scores) < 0.5 * np.mean(blank)      # a wide margin: less than half the error


def test_shipped_scene_checkpoint_recovers_objects_and_beats_mcmc():
    from spiral_dsl.actions import ActionSpec
    from synth.scene_eval import evaluate_mcmc, evaluate_policy, held_out_scenes
    from synth.synthesize import load_policy
    assert default_checkpoint("scene").is_file(), "synth/checkpoints/scenes.pt must ship"
    assert default_checkpoint("scene").stat().st_size <= 20 * 2 ** 20
    policy, _ = load_policy(None, "scene")
    scenes = held_out_scenes(ActionSpec.for_domain("scene"), count=10, seed=54321)
    ours = evaluate_policy(policy, scenes, samples=16)
    baseline = evaluate_mcmc(policy.spec, scenes, budget=int(ours["mean_renderer_calls"]))
    # far from the 90% exact (docs/results.md), but ahead of MCMC at equal calls
    assert ours["near_fraction"] > baseline["near_fraction"] + 0.05
    assert ours["exact_fraction"] >= baseline["exact_fraction"]
