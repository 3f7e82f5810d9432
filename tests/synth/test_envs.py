"""Every env × interpreter passes the conformance mixin; penalties and registration work."""
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from spiral_dsl import SplError
from synth.envs import RENDER_FPS, PaintEnv, SceneEnv, register_envs, shipped_digits

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
    expected = -float(np.mean((env._image - target) ** 2)) - 0.2
    assert reward == pytest.approx(expected, rel=1e-6)
    env.reset(seed=0)
    for _ in range(4):  # only moves: nothing visible drawn
        _, reward, _, _, _ = env.step(_act(env, 0, 33))
    assert reward == pytest.approx(-float(np.mean((env._image - env._target) ** 2)) - 1.0, rel=1e-6)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(SplError, match=r"render_mode='human' is not one of \[None, 'rgb_array'\]"):
        PaintEnv(interpreter="raster", render_mode="human")
    with pytest.raises(SplError, match="interpreter='mujoco' is not one of"):
        PaintEnv(targets=PAINT_TARGETS, interpreter="mujoco")
    with pytest.raises(SplError, match="needs a reward_fn"):
        PaintEnv(conditional=False, interpreter="raster")
    with pytest.raises(SplError, match="shape"):
        PaintEnv(targets=np.zeros((2, 32, 32, 3), np.float32), interpreter="raster").reset(seed=0)
    with pytest.raises(SplError, match="objects"):
        SceneEnv(targets=SCENE_TARGETS, episode_length=10)


# --- issue 13, item 16: registration, default targets, uint8 frames, render_fps --------------

def test_gym_make_needs_no_prior_import_and_no_targets():
    """Gymnasium >= 1.0 has no plugin entry points; its ``module:id`` form imports synth.envs."""
    code = ("import gymnasium as gym, sys\n"
            "assert 'synth.envs' not in sys.modules\n"
            "env = gym.make('synth.envs:spiral_dsl/Paint-v0', interpreter='raster')\n"
            "obs, _ = env.reset(seed=0)\n"
            "print(obs['target'].shape, float(obs['target'].min()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    shape, darkest = out.stdout.rsplit(" ", 1)
    assert shape == "(64, 64, 3)" and float(darkest) < 0.1  # a digit: dark ink on white


def test_register_envs_is_idempotent_and_registers_both():
    for env_id in ("spiral_dsl/Paint-v0", "spiral_dsl/Scene-v0"):
        gym.registry.pop(env_id, None)
    register_envs()
    register_envs()
    assert gym.registry["spiral_dsl/Paint-v0"].entry_point == "synth.envs:PaintEnv"
    assert gym.registry["spiral_dsl/Scene-v0"].entry_point == "synth.envs:SceneEnv"


@pytest.mark.parametrize("env_id, kwargs", [("spiral_dsl/Paint-v0", {"interpreter": "raster"}),
                                            ("spiral_dsl/Scene-v0", {})])
def test_gymnasium_env_checker_passes_with_rendering(env_id, kwargs):
    """check_env with its render checks (uint8 rgb_array frames, render_fps), every checker
    warning an error."""
    env = gym.make(env_id, render_mode="rgb_array", **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()


def test_rgb_array_frames_are_uint8_canvases():
    env = PaintEnv(interpreter="raster", render_mode="rgb_array", episode_length=3)
    assert env.metadata["render_fps"] == RENDER_FPS > 0
    assert env.render() is None  # before reset
    obs, _ = env.reset(seed=0)
    env.step(_act(env, 1, 500, 400))
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (64, 64, 3)
    np.testing.assert_array_equal(frame, (env._image * 255 + 0.5).astype(np.uint8))
    assert frame.min() < 255  # the stroke is in the frame
    assert PaintEnv(interpreter="raster").render() is None  # no render mode: None


def test_default_targets_are_the_shipped_evaluation_digits():
    env = PaintEnv(interpreter="raster")
    digits = shipped_digits(64)
    assert digits.shape == (1000, 64, 64, 3) and not digits.flags.writeable
    seen = {int(np.flatnonzero((digits == env.reset(seed=s)[0]["target"]).all((1, 2, 3)))[0])
            for s in range(5)}
    assert len(seen) > 1  # sampled with the env's RNG
    scene = SceneEnv()
    a, _ = scene.reset(seed=1)
    b, _ = scene.reset(seed=1)
    np.testing.assert_array_equal(a["target"], b["target"])  # a random scene, seeded
    assert not np.array_equal(a["target"], scene.reset(seed=2)[0]["target"])
