"""The one rollout loop: sampling episodes from the policy, replaying given actions, and the
uint8 quantisation of images the policy sees.

Every place that drives the policy over a :class:`synth.batch_env.BatchEnv` goes through here:
training's rollout workers and the learner's re-evaluation (:mod:`synth.roles`), pretraining
(:mod:`synth.pretrain`) and ``synthesize``'s candidates (:mod:`synth.synthesize`).

* :func:`to_uint8` / :func:`from_uint8` / :func:`quantise` — images in [0, 1] ↔ uint8. The
  policy always sees uint8-quantised canvases and targets (trajectories ship as uint8), so
  pretraining and inference quantise the same way.
* :func:`sample_episode` — one batched episode: each step the policy samples an action from the
  quantised canvas and target, the env executes it, until ``env.done`` (``episode_length - 1``
  actions). Returns an :class:`Episode` with the log-probabilities, entropies and values
  recorded during sampling; ``keep_graph=True`` keeps their autograd graph (on-policy A2C
  back-propagates through it instead of running the policy again).
* :func:`render_prefixes` — replay given actions on an env: the canvas before each action.
* :func:`teacher_forced_steps` / :func:`teacher_force` — replay given actions through the
  policy (teacher forcing): each step scores the taken action and feeds it back as the
  previous action. Scoring an episode's own actions gives back the log-probabilities recorded
  while sampling it.

Shapes: T actions, B episodes; canvases (T+1, B, 3, H, W) — the observation before each
action, then the final canvas; actions slot → (T, B) long.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from spiral_dsl.errors import SplRangeError

__all__ = ["to_uint8", "from_uint8", "quantise", "Episode", "sample_episode", "render_prefixes",
           "teacher_forced_steps", "teacher_force", "Forced"]


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] → uint8, rounding half up; values outside [0, 1] are clipped first."""
    return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def from_uint8(x: torch.Tensor) -> torch.Tensor:
    """uint8 → float32 in [0, 1] (k ↦ k / 255). ``from_uint8(to_uint8(from_uint8(u))) == from_uint8(u)``."""
    return x.float() / 255


def quantise(x: torch.Tensor) -> torch.Tensor:
    """``from_uint8(to_uint8(x))``: what the policy sees of a float image."""
    return from_uint8(to_uint8(x))


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return from_uint8(x) if x.dtype == torch.uint8 else x


@dataclass(frozen=True)
class Episode:
    """One batch of sampled episodes (T = ``episode_length - 1`` actions, B episodes)."""
    canvases: torch.Tensor   # (T+1, B, 3, H, W) uint8: the observation before each action, then the final canvas
    targets: torch.Tensor    # (B, 3, H, W) uint8: the quantised targets the policy saw
    actions: dict            # slot → (T, B) long
    log_prob: torch.Tensor   # (T, B) log π(action) summed over the slots the statement uses
    entropy: torch.Tensor    # (T, B) entropy summed over those slots
    value: torch.Tensor      # (T, B) the value head's baseline (these three None: scores=False)

    @property
    def steps(self) -> int:
        return self.canvases.shape[0] - 1


def sample_episode(policy, env, targets: torch.Tensor, *, keep_graph: bool = False,
                   scores: bool = True) -> Episode:
    """Run one episode of ``env.batch`` canvases with ``policy`` sampling every action.

    ``targets`` (B, 3, H, W) float in [0, 1] (uint8 accepted) with B = ``env.batch``; they are
    quantised, the env is reset with them, and each step the policy sees the quantised canvas
    and target. Sampling draws from torch's global generator: the same seed gives the same
    episode. ``keep_graph=False`` runs without autograd; ``True`` keeps the graph of the
    recorded log-probabilities, entropies and values. ``scores=False`` (inference, without
    ``keep_graph``): the same episode, with ``log_prob``, ``entropy`` and ``value`` ``None``.
    After the call ``env`` holds the final state (``env.programs()``, ``env.new_sequences``,
    ``env.blank_mask()``)."""
    if keep_graph and not scores:
        raise ValueError("keep_graph=True keeps the graph of the scores: it needs scores=True")
    if targets.dim() != 4 or targets.shape[0] != env.batch:
        raise SplRangeError(f"targets of shape {tuple(targets.shape)} do not fit a batch of "
                            f"{env.batch}: expected ({env.batch}, 3, H, W)")
    with torch.set_grad_enabled(keep_graph):
        targets_u8 = targets if targets.dtype == torch.uint8 else to_uint8(targets)
        target = from_uint8(targets_u8)
        obs = env.reset(target)   # BatchEnv refuses episode_length < 2: a step always follows
        B = env.batch
        state, prev = policy.initial_state(B), policy.no_action(B)
        memo = _target_features(policy, target)
        canvases = [to_uint8(obs["canvas"])]
        actions: dict = {s: [] for s in policy.order}
        logps, ents, values = [], [], []
        while not env.done:
            out = policy(from_uint8(canvases[-1]), target, prev, state, scores=scores, **memo)
            obs = env.step(out.actions)
            canvases.append(to_uint8(obs["canvas"]))
            for s, a in out.actions.items():
                actions[s].append(a)
            logps.append(out.log_prob)
            ents.append(out.entropy)
            values.append(out.value)
            prev, state = out.actions, out.state
        stacked = [torch.stack(v) for v in (logps, ents, values)] if scores else [None] * 3
        return Episode(torch.stack(canvases), targets_u8, {s: torch.stack(v) for s, v in actions.items()},
                       *stacked)


def _target_features(policy, target: torch.Tensor) -> dict:
    """``{"target_features": ...}`` for a policy that can encode its target once per episode
    (:meth:`synth.nets.Policy.target_features`), else ``{}``."""
    encode = getattr(policy, "target_features", None)
    return {} if encode is None else {"target_features": encode(target)}


def _steps_and_batch(actions: dict, order) -> tuple[int, int]:
    missing = [s for s in order if s not in actions]
    if missing:
        raise SplRangeError(f"actions lack the slots {missing}; expected every slot of {list(order)}")
    shapes = {s: tuple(actions[s].shape) for s in order}
    first = shapes[order[0]]
    if len(first) != 2 or any(shape != first for shape in shapes.values()):
        raise SplRangeError(f"action slots must all be (T, B); got shapes {shapes}")
    return first


def render_prefixes(env, actions: dict, targets: torch.Tensor | None = None) -> torch.Tensor:
    """Replay ``actions`` (slot → (T, B) long, B = ``env.batch``, T ≤ ``episode_length - 1``)
    on ``env`` from a reset with ``targets``; returns the float canvases (T+1, B, 3, H, W):
    the canvas before each action, then the final one."""
    T, B = _steps_and_batch(actions, env.spec.order)
    if B != env.batch:
        raise SplRangeError(f"actions for {B} episodes do not fit an env of batch {env.batch}")
    env.reset(targets)
    canvases = [env.canvas.clone()]
    for t in range(T):
        env.step({s: actions[s][t] for s in env.spec.order})
        canvases.append(env.canvas.clone())
    return torch.stack(canvases)


def teacher_forced_steps(policy, canvases: torch.Tensor, target: torch.Tensor,
                         actions: dict) -> Iterator[tuple[dict, object]]:
    """Replay ``actions`` (slot → (T, B) long) through ``policy``: yields, for each step t, the
    taken action (slot → (B,)) and the policy's output scoring it (a
    :class:`synth.nets.PolicyOutput`) given ``canvases[t]`` and ``target``.

    ``canvases`` (≥ T, B, 3, H, W) and ``target`` (B, 3, H, W) are float in [0, 1] or uint8
    (converted one step at a time; no quantisation is applied to floats). Autograd follows the
    caller's mode."""
    T, B = _steps_and_batch(actions, policy.order)
    if canvases.dim() != 5 or canvases.shape[0] < T or canvases.shape[1] != B:
        raise SplRangeError(f"canvases of shape {tuple(canvases.shape)} do not fit {T} steps of "
                            f"{B} episodes: expected (>= {T}, {B}, 3, H, W)")
    if target.dim() != 4 or target.shape[0] != B:
        raise SplRangeError(f"target of shape {tuple(target.shape)} does not fit {B} episodes: "
                            f"expected ({B}, 3, H, W)")
    target = _as_float(target)
    state, prev = policy.initial_state(B), policy.no_action(B)
    memo = _target_features(policy, target)
    for t in range(T):
        taken = {s: actions[s][t] for s in policy.order}
        out = policy(_as_float(canvases[t]), target, prev, state, actions=taken, **memo)
        yield taken, out
        prev, state = taken, out.state


@dataclass(frozen=True)
class Forced:
    """Teacher-forced scores of T given actions for B episodes."""
    log_prob: torch.Tensor   # (T, B)
    entropy: torch.Tensor    # (T, B)
    value: torch.Tensor      # (T, B)


def teacher_force(policy, canvases: torch.Tensor, target: torch.Tensor, actions: dict) -> Forced:
    """:func:`teacher_forced_steps` stacked: log-probabilities, entropies and values (T, B)."""
    logps, ents, values = [], [], []
    for _, out in teacher_forced_steps(policy, canvases, target, actions):
        logps.append(out.log_prob)
        ents.append(out.entropy)
        values.append(out.value)
    return Forced(torch.stack(logps), torch.stack(ents), torch.stack(values))
