"""scripts/mnist_classifier.py, the sample-quality instrument: its Fréchet distance and figures
(an untrained net is enough to check the arithmetic; the shipped weights are checked to load)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mnist_classifier.py"
spec = importlib.util.spec_from_file_location("mnist_classifier", SCRIPT)
mc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mc)


def test_frechet_distance_of_known_gaussian_samples():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert mc.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # a mean shift of (2, 0, 0): |Δμ|² = 4, the covariance terms cancel
    assert mc.frechet_distance(a, a + [2.0, 0.0, 0.0]) == pytest.approx(4.0, abs=1e-6)
    # scaling by 3 (same mean): tr(I + 9I − 2·3I) = 4 per dimension
    assert mc.frechet_distance(a, 3 * a) == pytest.approx(12.0, rel=0.05)


def test_sample_quality_figures_on_identical_and_varied_images():
    torch.manual_seed(0)
    net = mc.DigitNet(width=4)
    blank = np.ones((6, 64, 64, 3), np.float32)
    reference = mc.predict(net, blank, features=True).numpy()
    same = mc.sample_quality(blank, net, reference)
    assert same["n"] == 6 and same["diversity"] == 0.0 and same["fid"] == pytest.approx(0, abs=1e-4)
    assert same["classes"] <= 1 and sum(same["class_counts"]) == round(same["confident"] * 6)
    noisy = np.random.default_rng(1).random((6, 64, 64, 3)).astype(np.float32)
    varied = mc.sample_quality(noisy, net, reference)
    assert varied["diversity"] > 0 and varied["fid"] > same["fid"]
    with pytest.raises(ValueError, match="must be"):
        mc.predict(net, np.ones((2, 32, 32, 3)))


def test_the_trained_classifier_loads_safely_and_reads_evaluation_digits():
    from synth.data import load_set
    assert mc.WEIGHTS.is_file(), "bench/mnist_classifier.pt ships with the repository"
    net = mc.load()                                   # torch.load(weights_only=True)
    images, labels = load_set("mnist-eval", size=64)
    pick = np.arange(0, 1000, 10)
    accuracy = (mc.predict(net, images[pick]).argmax(1).numpy() == np.asarray(labels)[pick]).mean()
    assert accuracy > 0.9
    assert mc.WEIGHTS.stat().st_size < 2_000_000
