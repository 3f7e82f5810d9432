"""Every env × interpreter passes the conformance mixin; penalties and registration work."""
import gymnasium as gym
import numpy as np
import pytest

from spiral_dsl import SplError
from synth.envs import PaintEnv, SceneEnv

from .env_conformance import EnvConformance

RNG = np.random.default_rng(0)
PAINT_TARGETS = RNG.uniform(0, 1, (4, 64, 64, 3)).astype(np.float32)
SCENE_TARGETS = RNG.uniform(0, 1, (4, 64, 64, 3)).astype(np.float32)


class TestPaintMypaint(EnvConformance):
    def make_env(self, **kw):
        return PaintEnv(targets=PAINT_TARGETS, interpreter="mypaint", episode_length=6, **kw)


class TestPaintRaster(EnvConformance):
    def make_env(self, **kw):
        return PaintEnv(targets=PAINT_TARGETS, interpreter="raster", episode_length=6, **kw)


class TestPaintUnconditional(EnvConformance):
    def make_env(self, **kw):
        return PaintEnv(conditional=False, reward_fn=lambda canvas, target: float(canvas.mean()),
                        interpreter="raster", episode_length=4, **kw)


class TestScene(EnvConformance):
    def make_env(self, **kw):
        return SceneEnv(targets=SCENE_TARGETS, **kw)


def test_registered_with_gymnasium():
    env = gym.make("spiral_dsl/Paint-v0", targets=PAINT_TARGETS, interpreter="raster")
    obs, _ = env.reset(seed=0)
    assert obs["canvas"].shape == (64, 64, 3)
    env.close()
    assert "spiral_dsl/Scene-v0" in gym.registry


def _act(env, flag, end=0, control=0):
    a = {s: 0 for s in env.action_space.spaces}
    a.update(flag=flag, end=end, control=control, size=3, pressure=9)
    return a


def test_penalties():
    env = PaintEnv(targets=PAINT_TARGETS, interpreter="raster", episode_length=5,
                   stroke_penalty=-0.1, blank_penalty=-1.0)
    env.reset(seed=0)
    # stroke, stroke (same sequence), move, stroke (new sequence): two sequences
    for a in (_act(env, 1, 500, 400), _act(env, 1, 600, 500), _act(env, 0, 10), _act(env, 1, 900, 800)):
        _, reward, terminated, _, info = env.step(a)
    assert terminated and info["new_sequences"] == 2
    target = env._target
    expected = -float(np.mean((env.render() - target) ** 2)) - 0.2
    assert reward == pytest.approx(expected, rel=1e-6)
    env.reset(seed=0)
    for _ in range(4):  # only moves: nothing visible drawn
        _, reward, _, _, _ = env.step(_act(env, 0, 33))
    assert reward == pytest.approx(-float(np.mean((env.render() - env._target) ** 2)) - 1.0, rel=1e-6)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(SplError, match="needs targets"):
        PaintEnv(interpreter="raster")
    with pytest.raises(SplError, match="interpreter='mujoco' is not one of"):
        PaintEnv(targets=PAINT_TARGETS, interpreter="mujoco")
    with pytest.raises(SplError, match="needs a reward_fn"):
        PaintEnv(conditional=False, interpreter="raster")
    with pytest.raises(SplError, match="shape"):
        PaintEnv(targets=np.zeros((2, 32, 32, 3), np.float32), interpreter="raster").reset(seed=0)
    with pytest.raises(SplError, match="objects"):
        SceneEnv(targets=SCENE_TARGETS, episode_length=10)
