"""A reusable conformance mixin (dm_env style): every program env must pass these tests.

Subclass it in a test class and implement ``make_env(**kwargs)``; pytest collects the tests.
"""
from __future__ import annotations

import numpy as np
from gymnasium.utils.env_checker import check_env

from spiral_dsl import Program


class EnvConformance:
    """Tests of the contract stated in :mod:`synth.envs`."""

    def make_env(self, **kwargs):  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def _rollout(self, env, seed: int):
        obs, info = env.reset(seed=seed)
        env.action_space.seed(seed)
        trajectory = [obs]
        rewards, terminated = [], False
        while not terminated:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            assert not truncated
            trajectory.append(obs)
            rewards.append(reward)
        return trajectory, rewards, info

    def test_gymnasium_check_env(self):
        env = self.make_env()
        check_env(env, skip_render_check=True)
        env.close()

    def test_observations_are_in_the_space(self):
        env = self.make_env()
        trajectory, _, _ = self._rollout(env, seed=1)
        for obs in trajectory:
            assert env.observation_space.contains(obs), {k: (v.dtype, v.shape) for k, v in obs.items()}
        env.close()

    def test_episode_length_counts_the_initial_step(self):
        env = self.make_env()
        trajectory, rewards, info = self._rollout(env, seed=2)
        assert len(trajectory) == env.episode_length
        assert len(rewards) == env.episode_length - 1
        assert [int(o["step"]) for o in trajectory] == list(range(env.episode_length))
        env.close()

    def test_reward_only_at_the_last_step(self):
        env = self.make_env()
        _, rewards, _ = self._rollout(env, seed=3)
        assert all(r == 0.0 for r in rewards[:-1])
        assert np.isfinite(rewards[-1])
        env.close()

    def test_info_program_replays_to_the_canvas(self):
        env = self.make_env()
        trajectory, _, info = self._rollout(env, seed=4)
        program = info["program"]
        assert isinstance(program, Program)
        assert len(program) == env.episode_length - 1
        image = program.render(backend=env.interpreter_name)
        np.testing.assert_allclose(image, trajectory[-1]["canvas"], atol=1e-5)
        env.close()

    def test_same_seed_same_episode(self):
        a, b = self.make_env(), self.make_env()
        ta, ra, ia = self._rollout(a, seed=5)
        tb, rb, ib = self._rollout(b, seed=5)
        assert ia["program"] == ib["program"] and ra == rb
        np.testing.assert_array_equal(ta[-1]["canvas"], tb[-1]["canvas"])
        a.close()
        b.close()

    def test_step_after_the_end_or_before_reset_is_the_state_error(self):
        from spiral_dsl import SplStateError
        env = self.make_env()
        try:
            env.step(env.action_space.sample())
        except SplStateError:
            pass
        else:
            raise AssertionError("stepping before reset() must raise SplStateError")
        self._rollout(env, seed=6)
        try:
            env.step(env.action_space.sample())
        except SplStateError:
            pass
        else:
            raise AssertionError("stepping a finished episode must raise SplStateError")
        env.close()
