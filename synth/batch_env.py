"""B paint or scene episodes stepped together, on torch tensors, for training.

``BatchEnv`` is the vectorised form of :class:`synth.envs.ProgramEnv` (same actions, same
episode rules, same penalties). It keeps only the episode rules; the canvases are a
:class:`~spiral_dsl.interpreters.base.BatchCanvas` (:func:`~spiral_dsl.interpreters.batched.
start_batch`): with the ``raster`` interpreter a whole batch is one tensor operation per step;
with ``mypaint`` or ``mujoco`` each canvas is a real interpreter canvas (a loop over the batch,
none over pixels).

    env = BatchEnv(spec, batch=32, interpreter="raster")
    obs = env.reset(targets)          # targets (B, 3, H, W) float32 in [0, 1]
    obs = env.step(actions)           # actions: slot → (B,) long
    env.done                          # after episode_length - 1 steps
    env.new_sequences                 # (B,) strokes started with the pen up (SPIRAL's penalty)

Stepping before the first reset, or after the episode is over, raises
:class:`~spiral_dsl.errors.SplStateError` (as :class:`synth.envs.ProgramEnv` does).
"""
from __future__ import annotations

import torch

from spiral_dsl import Program
from spiral_dsl.actions import ActionSpec
from spiral_dsl.ast import Header
from spiral_dsl.errors import SplRangeError, SplStateError
from spiral_dsl.interpreters.batched import start_batch

__all__ = ["BatchEnv"]


class BatchEnv:
    """``batch`` episodes of ``episode_length`` steps (``episode_length - 1`` actions)."""

    def __init__(self, spec: ActionSpec, batch: int, episode_length: int | None = None,
                 interpreter: str | None = None, device: str = "cpu"):
        if episode_length is None:  # SPIRAL's 20 steps for paint; one step per object for scenes
            episode_length = 20 if spec.domain == "paint" else spec.settings["objects"] + 1
        if episode_length < 2:
            raise SplRangeError(f"episode_length={episode_length} must be >= 2 (one action)")
        self.spec, self.batch, self.episode_length = spec, batch, episode_length
        self.settings = dict(spec.settings)
        self.domain = spec.domain
        self.interpreter = interpreter or ("raster" if self.domain == "paint" else "mujoco")
        self.device = torch.device(device)
        self.size = self.settings["canvas"]
        self.canvases = start_batch(self.interpreter, self.domain, self.settings, batch, device=device)
        self.canvas = None
        self.t = 0

    # ------------------------------------------------------------------ episode
    def reset(self, targets: torch.Tensor | None = None) -> dict:
        self.t = 0
        self.targets = targets
        self.new_sequences = torch.zeros(self.batch, device=self.device)
        self._pen_down = torch.zeros(self.batch, dtype=torch.bool, device=self.device)
        self.actions: list[dict] = []
        self.canvases.reset()
        self.canvas = self.canvases.image()
        self.blank = self.canvas.clone()
        return self.observation()

    @property
    def done(self) -> bool:
        return self.t >= self.episode_length - 1

    def step(self, actions: dict) -> dict:
        if self.canvas is None:
            raise SplStateError("call reset() before step()")
        if self.done:
            raise SplStateError("the episode is over; call reset()")
        actions = {s: a.to(self.device) for s, a in actions.items()}
        self.actions.append({s: a.detach().cpu() for s, a in actions.items()})
        if self.domain == "paint":
            is_stroke = actions["flag"] == 1
            self.new_sequences += (is_stroke & ~self._pen_down).float()
            # the pen is "down" after any statement; a move starts a new sequence on the next stroke
            self._pen_down = is_stroke
        self.canvas = self.canvases.step(self.spec.values_of(actions))
        self.t += 1
        return self.observation()

    def observation(self) -> dict:
        """canvas (B, 3, H, W), target (B, 3, H, W) or None, step int."""
        return {"canvas": self.canvas, "target": self.targets, "step": self.t}

    def blank_mask(self) -> torch.Tensor:
        """(B,) True where nothing visible was drawn."""
        return (self.canvas - self.blank).abs().flatten(1).amax(1) < 1e-3

    def programs(self, rows=None) -> list[Program]:
        """The program each canvas drew this episode (of the canvases ``rows`` only, in that
        order, when given)."""
        header = Header(self.domain, tuple(sorted(self.spec.explicit_settings().items())))
        out = []
        for b in range(self.batch) if rows is None else rows:
            stmts = [self.spec.decode({s: int(a[s][b]) for s in a}) for a in self.actions]
            out.append(Program(header, stmts))
        return out

    def close(self) -> None:
        self.canvases.close()
