"""Gymnasium environments whose actions are core statements of the DSL.

Each step decodes one action (a ``Dict`` of ``Discrete`` slots from the domain's
:class:`~spiral_dsl.actions.ActionSpec`) into a core statement and executes it on a canvas of
the chosen interpreter; every episode is a program (``info["program"]``).

Contract (dm_env style; ``tests/synth/env_conformance.py`` checks it for every env):

* ``reset(seed=None)`` → ``(observation, info)``; observation is a dict with ``canvas``
  (H×W×C float32 in [0, 1]), ``target`` (same shape, only when ``conditional``), ``pen``
  (2 float32 in [0, 1]: pen position / canvas; scene: zeros) and ``step`` (int64 in
  [0, episode_length - 1]).
* An episode has ``episode_length`` steps counting the initial observation, so
  ``episode_length - 1`` actions (SPIRAL: 20 steps = 19 actions). The last action returns
  ``terminated=True``; ``truncated`` is always False.
* The reward is 0 except at the last step, where it is ``reward_fn(canvas, target)`` plus the
  penalties: ``stroke_penalty`` for each new continuous stroke sequence (a stroke that starts
  with the pen up) and ``blank_penalty`` if nothing visible was drawn. Both penalties are
  negative numbers (0 disables them).
* ``reward_fn`` is any callable ``(canvas, target) -> float``; the default is negative mean
  squared error to the target (conditional) — an unconditional env needs one, e.g. a
  discriminator score.
* ``targets`` default: paint, the shipped MNIST evaluation digits (1,000, ink on white, at the
  canvas size) sampled with the env's RNG; scenes, a random scene of 1..``objects`` objects
  drawn from the env's RNG and rendered, at each reset.
* ``render_mode="rgb_array"``: ``render()`` returns the canvas as H×W×3 ``uint8``;
  ``metadata["render_fps"]`` is the replay GIF's rate.

Registered ids: ``spiral_dsl/Paint-v0`` and ``spiral_dsl/Scene-v0``. Gymnasium (>= 1.0) has no
plugin entry points, so ``gym.make("synth.envs:spiral_dsl/Paint-v0")`` (Gymnasium's
``module:id`` form) works with nothing imported first; after ``import synth.envs`` the bare id
works too.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from spiral_dsl import Program
from spiral_dsl.actions import ActionSpec
from spiral_dsl.ast import Header, Move, Stroke
from spiral_dsl.errors import SplRangeError, SplStateError
from spiral_dsl.interpreters import get_interpreter
from spiral_dsl.settings import DEFAULTS

__all__ = ["ProgramEnv", "PaintEnv", "SceneEnv", "negative_mse", "register_envs"]


def negative_mse(canvas: np.ndarray, target: np.ndarray) -> float:
    """The default reward: ``-mean((canvas - target)**2)``."""
    return -float(np.mean((canvas - target) ** 2))


#: Frames per second of ``rgb_array`` renders (one statement per frame; the replay GIF's rate).
RENDER_FPS = 8


@lru_cache(maxsize=4)
def shipped_digits(size: int) -> np.ndarray:
    """The shipped MNIST evaluation digits at ``size`` (read-only, shared by every env)."""
    from .data import SHIPPED, load_mnist
    digits = load_mnist("eval", size, source=SHIPPED)[0]
    digits.flags.writeable = False
    return digits


class _RandomScenes:
    """A fresh random scene per reset, drawn from the env's RNG and rendered (MuJoCo)."""

    def __init__(self, spec: ActionSpec):
        self.spec = spec

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        from .data import random_scenes, render_targets
        actions = random_scenes(self.spec, 1, seed=int(rng.integers(2**31)))[0]
        return render_targets([Program.from_actions(self.spec, actions)])[0]


class _TargetStream:
    """Targets from an array (sampled with the env's RNG), any iterable (taken in order) or
    random scenes (drawn with the env's RNG)."""

    def __init__(self, targets):
        self.array = None
        self.iterator = None
        self.scenes = None
        if targets is None:
            return
        if isinstance(targets, _RandomScenes):
            self.scenes = targets
            return
        if isinstance(targets, np.ndarray):
            if targets.ndim not in (3, 4):
                raise SplRangeError(f"targets array has shape {targets.shape}; expected N×H×W "
                                    "or N×H×W×C")
            self.array = targets
        else:
            self.iterator = iter(targets)

    def next(self, rng: np.random.Generator):
        if self.scenes is not None:
            return self.scenes.draw(rng)
        if self.array is not None:
            return self.array[rng.integers(len(self.array))]
        if self.iterator is not None:
            try:
                return next(self.iterator)
            except StopIteration:
                raise SplStateError("the targets iterable is exhausted") from None
        return None


class ProgramEnv(gym.Env):
    """A Gymnasium env over one domain of the DSL (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": RENDER_FPS}
    domain = "paint"
    default_interpreter = "mypaint"
    interpreters = ("mypaint", "raster")

    def __init__(self, *, episode_length: int = 20, conditional: bool = True, targets=None,
                 reward_fn: Callable[[np.ndarray, np.ndarray], float] | None = None,
                 stroke_penalty: float = 0.0, blank_penalty: float = 0.0,
                 interpreter: str | None = None, settings: dict | None = None,
                 render_mode: str | None = None):
        if episode_length < 2:
            raise SplRangeError(f"episode_length={episode_length} must be >= 2 (one action)")
        interpreter = interpreter or self.default_interpreter
        if interpreter not in self.interpreters:
            raise SplRangeError(f"interpreter={interpreter!r} is not one of {list(self.interpreters)}")
        if stroke_penalty > 0 or blank_penalty > 0:
            raise SplRangeError("penalties are negative rewards: stroke_penalty and blank_penalty "
                                "must be <= 0")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise SplRangeError(f"render_mode={render_mode!r} is not one of "
                                f"{[None, *self.metadata['render_modes']]}")
        if not conditional and reward_fn is None:
            raise SplRangeError("an unconditional env needs a reward_fn, e.g. a discriminator score")
        self.settings = {**DEFAULTS[self.domain], **(settings or {})}
        self.spec_ = ActionSpec.for_domain(self.domain, self.settings)
        self.episode_length = episode_length
        self.conditional = conditional
        self.reward_fn = reward_fn or negative_mse
        self.stroke_penalty = stroke_penalty
        self.blank_penalty = blank_penalty
        self.interpreter_name = interpreter
        self.render_mode = render_mode
        self._interp = get_interpreter(interpreter, self.domain)
        if conditional and targets is None:
            targets = self.default_targets()
        self._targets = _TargetStream(targets)
        size = self.settings["canvas"]
        self._shape = (size, size, 3)
        box = spaces.Box(0.0, 1.0, self._shape, np.float32)
        obs = {"canvas": box, "pen": spaces.Box(0.0, 1.0, (2,), np.float32),
               "step": spaces.Box(0, episode_length - 1, (), np.int64)}
        if conditional:
            obs["target"] = box
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Dict({s: spaces.Discrete(n) for s, n in self.spec_.sizes.items()})
        self._canvas = None
        self._image = None
        self._statements: list = []

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.action_space.seed(seed)
        if self._canvas is not None:
            self._canvas.close()
        self._canvas = self._interp.start(self.domain, self.settings)
        self._statements = []
        self._step = 0
        self._new_sequences = 0
        self._blank = self._canvas.image()
        self._image = self._blank
        target = (options or {}).get("target")
        if target is None:
            target = self._targets.next(self.np_random)
        self._target = None if target is None else self._prepare_target(target)
        return self._observation(), self._info()

    def step(self, action):
        if self._canvas is None:
            raise SplStateError("call reset() before step()")
        if self._step >= self.episode_length - 1:
            raise SplStateError("the episode is over; call reset()")
        statement = self.spec_.decode({k: int(v) for k, v in action.items()})
        if isinstance(statement, Stroke) and (not self._statements or isinstance(self._statements[-1], Move)):
            self._new_sequences += 1
        self._canvas.execute(statement)
        self._statements.append(statement)
        self._image = self._canvas.image()
        self._step += 1
        terminated = self._step == self.episode_length - 1
        reward = self._final_reward() if terminated else 0.0
        return self._observation(), reward, terminated, False, self._info()

    def render(self):
        """``rgb_array``: the canvas as H×W×3 uint8 (None before the first reset); no render
        mode: None, as Gymnasium specifies."""
        if self.render_mode != "rgb_array" or self._image is None:
            return None
        return (np.clip(self._image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)

    def default_targets(self):
        """The targets used when none are given (see the module docstring)."""
        return shipped_digits(self.settings["canvas"])

    def close(self):
        if self._canvas is not None:
            self._canvas.close()
            self._canvas = None

    # ------------------------------------------------------------------ helpers
    @property
    def program(self) -> Program:
        explicit = {k: v for k, v in self.settings.items() if DEFAULTS[self.domain][k] != v}
        return Program(Header(self.domain, tuple(sorted(explicit.items()))), self._statements)

    def _final_reward(self) -> float:
        reward = float(self.reward_fn(self._image, self._target))
        reward += self.stroke_penalty * self._new_sequences
        if self.blank_penalty and np.array_equal(self._image, self._blank):
            reward += self.blank_penalty
        return reward

    def _prepare_target(self, target) -> np.ndarray:
        t = np.asarray(target, dtype=np.float32)
        if t.dtype != np.float32 or t.max(initial=0) > 1.0 + 1e-6:
            t = t / 255.0
        if t.ndim == 2:
            t = np.repeat(t[..., None], 3, axis=-1)
        if t.shape != self._shape:
            raise SplRangeError(f"target has shape {t.shape}; this env needs {self._shape} "
                                "(resize targets to the canvas, e.g. with synth.data)")
        return np.clip(t, 0.0, 1.0).astype(np.float32)

    def _pen(self) -> np.ndarray:
        if self.domain != "paint" or not self._statements:
            return np.zeros(2, np.float32)
        to = self._statements[-1].to
        return np.array([to.x, to.y], np.float32) / np.float32(self.settings["canvas"])

    def _observation(self) -> dict:
        # fresh arrays every call: users keep observations
        obs = {"canvas": self._image.astype(np.float32, copy=True), "pen": self._pen(),
               "step": np.array(self._step, dtype=np.int64)}
        if self.conditional:
            obs["target"] = self._target.copy()
        return obs

    def _info(self) -> dict:
        return {"program": self.program, "new_sequences": self._new_sequences}


class PaintEnv(ProgramEnv):
    """Paint with strokes (libmypaint by default, or the fast ``raster`` interpreter)."""
    domain = "paint"
    default_interpreter = "mypaint"
    interpreters = ("mypaint", "raster")


class SceneEnv(ProgramEnv):
    """Place objects on a MuJoCo table; by default one episode places ``objects`` objects."""
    domain = "scene"
    default_interpreter = "mujoco"
    interpreters = ("mujoco",)

    def default_targets(self):
        return _RandomScenes(self.spec_)

    def __init__(self, *, episode_length: int | None = None, **kwargs):
        settings = {**DEFAULTS["scene"], **(kwargs.get("settings") or {})}
        if episode_length is None:
            episode_length = settings["objects"] + 1
        if episode_length - 1 > settings["objects"]:
            raise SplRangeError(f"episode_length={episode_length} allows {episode_length - 1} "
                                f"objects, more than objects={settings['objects']}")
        super().__init__(episode_length=episode_length, **kwargs)


def register_envs() -> None:
    """Register ``spiral_dsl/Paint-v0`` and ``spiral_dsl/Scene-v0`` with Gymnasium (idempotent)."""
    for env_id, entry in (("spiral_dsl/Paint-v0", "synth.envs:PaintEnv"),
                          ("spiral_dsl/Scene-v0", "synth.envs:SceneEnv")):
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry)


register_envs()

