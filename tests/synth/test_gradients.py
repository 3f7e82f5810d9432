"""Data-parallel A2C (synth.gradients): the averaged gradient of the shards is the whole batch's
gradient; workers in child processes; sharded training end to end; the config's rules."""
from pathlib import Path

import numpy as np
import pytest
import torch

from spiral_dsl.actions import ActionSpec
from synth import checkpoint as ckpt
from synth.config import load_config
from synth.data import load_set
from synth.errors import ConfigError, RunError
from synth.gradients import (
    GradientPool,
    GradientWorker,
    ProcessWorker,
    add_flat_gradients,
    flat_gradients,
)
from synth.nets import PolicyConfig
from synth.roles import PolicyLearner, RolloutWorker, a2c_loss
from synth.train import train

ROOT = Path(__file__).resolve().parents[2]
SPEC = ActionSpec.for_domain("paint")
CONFIG = PolicyConfig(channels=8, hidden=32)
LENGTH = 4


class InProcess:
    """A GradientWorker called directly, with the remote handles' ``call``/``result`` protocol
    (the transport is what ProcessWorker adds; the arithmetic is the worker's own)."""

    def __init__(self, worker):
        self.worker, self.answers = worker, []

    def call(self, name, *args):
        self.answers.append(getattr(self.worker, name)(*args))

    def result(self):
        return self.answers.pop(0)

    def close(self):
        self.worker.close()


@pytest.fixture(scope="module")
def targets():
    images, _ = load_set("mnist-eval")
    return images[:16]


def _mse_reward(traj):
    from synth.rollout import from_uint8
    return -((traj.final - from_uint8(traj.targets)) ** 2).flatten(1).mean(1) * 10, {}


@pytest.mark.parametrize("local", [True, False])
def test_the_pools_gradient_is_the_whole_batchs_gradient(targets, local):
    torch.manual_seed(0)
    learner = PolicyLearner(SPEC, CONFIG, lr=0.0, entropy_coef=0.01, max_grad_norm=1e9)
    sizes = [3, 2] if local else [3, 2, 1]
    remotes = [InProcess(GradientWorker(SPEC, CONFIG, n, LENGTH, targets, "raster", seed=10 + i))
               for i, n in enumerate(sizes[1:] if local else sizes)]
    home = RolloutWorker(SPEC, CONFIG, sizes[0], LENGTH, targets, "raster", seed=5) if local else None
    pool = GradientPool(remotes, sizes[1:] if local else sizes, home)
    joined, reward, _, metrics = pool.update(learner, _mse_reward)
    assert joined.canvases.shape[1] == sum(sizes) and reward.shape == (sum(sizes),)
    pooled = flat_gradients(learner.policy).clone()
    assert pooled.abs().sum() > 0
    # the reference: the whole joined batch scored again by teacher forcing, one loss, one backward
    learner.opt.zero_grad(set_to_none=True)
    loss, parts = a2c_loss(*learner.evaluate(joined), reward, discount=learner.discount,
                           value_coef=learner.value_coef, entropy_coef=learner.entropy_coef)
    loss.backward()
    reference = flat_gradients(learner.policy)
    torch.testing.assert_close(pooled, reference, rtol=1e-4, atol=1e-6)
    assert metrics["loss"] == pytest.approx(loss.item(), rel=1e-4)
    assert metrics["entropy"] == pytest.approx(parts["entropy"].item(), rel=1e-4)
    assert learner.version == 1 and "lost_shards" not in metrics
    pool.close()


def test_flat_gradients_round_trip():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    net(torch.randn(5, 3)).sum().backward()
    flat = flat_gradients(net)
    assert flat.numel() == sum(p.numel() for p in net.parameters())
    add_flat_gradients(net, flat, 1.0)
    torch.testing.assert_close(flat_gradients(net), 2 * flat)
    with pytest.raises(RunError, match="does not fit"):
        add_flat_gradients(net, torch.zeros(3), 1.0)


@pytest.mark.slow
def test_a_process_worker_answers_in_order_and_reports_its_errors(targets):
    worker = ProcessWorker(SPEC, CONFIG, 2, LENGTH, targets, "raster", seed=3, name="w")
    try:
        worker.call("gradients", torch.zeros(2), {})
        with pytest.raises(RunError, match="(?s)w failed:.*holds no batch"):
            worker.result()
        torch.manual_seed(0)
        learner = PolicyLearner(SPEC, CONFIG)
        worker.call("rollout", learner.get_weights(), 7)
        traj = worker.result()
        assert traj.canvases.shape[:2] == (LENGTH, 2) and traj.policy_version == 7
        assert traj.scores is None
        worker.call("gradients", torch.full((2,), -0.5),
                    {"discount": 0.99, "value_coef": 0.5, "entropy_coef": 0.01, "value_only": False})
        flat, parts = worker.result()
        assert flat.numel() == sum(p.numel() for p in learner.policy.parameters())
        assert torch.isfinite(flat).all() and set(parts) == {"policy_loss", "value_loss", "entropy"}
    finally:
        worker.close()
    assert not worker._process.is_alive()


@pytest.mark.slow
def test_sharded_training_runs_and_writes_a_loadable_checkpoint(tmp_path):
    args = load_config(str(ROOT / "configs" / "tiny.toml"),
                       [f"out_dir={tmp_path}", "shards=2", "updates=2", "device=cpu"])
    metrics = train(args)
    assert metrics["update"] == 2
    assert metrics["frames"] == 2 * args.rl.batch * (args.run.episode_length - 1)
    assert np.isfinite(metrics["mse"]) and np.isfinite(metrics["grad_norm"])
    policy, info = ckpt.load_model(tmp_path / "model.pt")
    assert info["update"] == 2


@pytest.mark.parametrize("overrides, message", [
    (["shards=3"], "batch=4 does not split into shards=3"),
    (["shards=2", "workers=2"], "needs workers=1"),
    (["shards=0"], "shards"),
])
def test_shard_settings_that_cannot_run_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(str(ROOT / "configs" / "tiny.toml"), overrides)


def test_rewards_are_computed_once_on_the_joined_batch(targets):
    """The pool hands ``reward_of`` the whole batch (so a running normalisation or a critic sees
    what one process would), exactly once per update."""
    torch.manual_seed(0)
    seen = []

    def reward_of(traj):
        seen.append(traj.canvases.shape[1])
        return _mse_reward(traj)
    learner = PolicyLearner(SPEC, CONFIG)
    pool = GradientPool([InProcess(GradientWorker(SPEC, CONFIG, 2, LENGTH, targets, "raster", seed=1))],
                        [2], RolloutWorker(SPEC, CONFIG, 2, LENGTH, targets, "raster", seed=2))
    before = {k: v.clone() for k, v in learner.policy.state_dict().items()}
    pool.update(learner, reward_of, value_only=True)
    assert seen == [4]
    after = learner.policy.state_dict()   # a warm-up moves the value head alone, here too
    assert {k for k in before if not torch.equal(before[k], after[k])} == {"value_head.weight", "value_head.bias"}
    pool.close()


@pytest.mark.slow
def test_an_unguarded_script_gets_a_clear_error_not_a_hang(tmp_path):
    """spawn imports the main module again in the worker: a script without the main guard
    fails there, and the parent says how to fix it instead of hanging."""
    import subprocess
    import sys
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from synth.config import load_config\n"
        "from synth.train import train\n"
        f"train(load_config({str(ROOT / 'configs' / 'tiny.toml')!r}, "
        f"['out_dir={tmp_path / 'run'}', 'shards=2', 'updates=1', 'device=cpu']))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env={**__import__("os").environ,
                                                          "PYTHONPATH": str(ROOT)})
    assert done.returncode != 0
    assert "RunError" in done.stderr and '__name__ == "__main__"' in done.stderr


def test_bfloat16_sharded_training_writes_a_bfloat16_model(tmp_path):
    args = load_config(str(ROOT / "configs" / "tiny.toml"),
                       [f"out_dir={tmp_path}", "shards=2", "updates=2", "device=cpu",
                        "arch=lean", "precision=bfloat16"])
    metrics = train(args)
    assert metrics["update"] == 2 and np.isfinite(metrics["grad_norm"])
    policy, _ = ckpt.load_model(tmp_path / "model.pt")
    assert policy.config.precision == "bfloat16"


@pytest.mark.parametrize("overrides, message", [
    (["precision=float16"], "precision"),
    (["domain=scene", "interpreter=mujoco", "arch=scene", "precision=bfloat16"], "runs in float32"),
])
def test_precision_settings_that_cannot_run_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(str(ROOT / "configs" / "tiny.toml"), overrides)
