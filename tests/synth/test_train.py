"""End to end: a seconds-long `spiral train` writes a loadable checkpoint and resumes; search
and synthesize behave; bad inputs are clear errors."""
import json

import numpy as np
import pytest

from spiral_dsl import Program, SplError
from spiral_dsl.cli import main as spiral
from synth import checkpoint as ckpt
from synth.train import load_args

TINY = ["--config", "configs/tiny.toml"]


def test_tiny_train_writes_checkpoint_and_resumes(tmp_path):
    out = tmp_path / "run"
    assert spiral(["train", *TINY, "--pretrain", "2", "--set", f"out_dir={out}"]) == 0
    policy, info = ckpt.load_model(out / "model.pt")
    assert info["update"] == 3 and policy.spec.domain == "paint"
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["update"] for x in lines] == [1, 2, 3]
    assert (out / "pretrained.pt").is_file()
    # resume: three more updates continue the count
    assert spiral(["train", *TINY, "--resume", "--set", f"out_dir={out}", "--set", "updates=5"]) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["update"] for x in lines][-2:] == [4, 5]
    assert ckpt.load(out / "checkpoint.pt")["update"] == 5


def test_discriminator_reward_and_unconditional(tmp_path):
    for extra in (["--set", "reward=discriminator"], ["--set", "reward=discriminator", "--set", "conditional=false"]):
        out = tmp_path / ("u" if "conditional=false" in extra else "c")
        assert spiral(["train", *TINY, "--set", f"out_dir={out}", "--set", "updates=2", *extra]) == 0
        lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        assert "d_loss" in lines[-1]


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(SplError, match="reward='bogus' is not one of"):
        load_args("configs/tiny.toml", ["reward=bogus"])
    with pytest.raises(SplError, match="unknown config keys"):
        bad = tmp_path / "bad.toml"
        bad.write_text("learning_rate = 3\n")
        load_args(str(bad))
    with pytest.raises(SplError, match="does not exist"):
        load_args(str(tmp_path / "missing.toml"))


def test_checkpoints_load_without_pickled_code(tmp_path):
    import pickle
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(print))
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load_model(evil)
    with pytest.raises(ckpt.CheckpointError, match="does not exist"):
        ckpt.load_model(tmp_path / "none.pt")


def test_greedy_search_beats_the_blank_canvas():
    from synth.data import load_set
    from synth.search import greedy
    images, _ = load_set("mnist-eval")
    target = images[150]
    p = greedy(target, seed=0, steps=8, candidates=32, polish=1)
    assert 0 < len(p) <= 8
    assert np.mean((p.render(backend="raster") - target) ** 2) < 0.8 * np.mean((1 - target) ** 2)


def test_synthesize_rejects_bad_input(tmp_path):
    from spiral_dsl import synthesize
    with pytest.raises(SplError, match="shape"):
        synthesize(np.zeros((4, 4, 4, 4)), method="greedy")
    with pytest.raises(SplError, match="in \\[0, 1\\]"):
        synthesize(np.full((28, 28), 7.0), method="greedy")
    with pytest.raises(SplError, match="dtype"):
        synthesize(np.zeros((28, 28), dtype=np.complex64), method="greedy")
    with pytest.raises(SplError, match="method="):
        synthesize(np.zeros((28, 28)), method="magic")
    with pytest.raises(SplError, match="does not exist"):
        synthesize(tmp_path / "nope.png", method="greedy")


def test_synthesize_with_a_trained_checkpoint(tmp_path):
    from spiral_dsl import synthesize
    out = tmp_path / "run"
    assert spiral(["train", *TINY, "--set", f"out_dir={out}", "--set", "updates=1"]) == 0
    target = np.ones((64, 64, 3), np.float32)
    target[20:44, 30:34] = 0.0
    p = synthesize(target, checkpoint=out / "model.pt", samples=4, seed=3, episode_length=4)
    assert isinstance(p, Program) and len(p) == 3
    assert float(p.metadata["mse"]) == pytest.approx(np.mean((p.render() - target) ** 2), abs=1e-5)
    q = synthesize(target, checkpoint=out / "model.pt", samples=4, seed=3, episode_length=4)
    assert q == p   # deterministic for a seed
    path = tmp_path / "p.spl"
    p.save(path)
    assert Program.load(path).metadata["checkpoint"] == "model.pt"
