"""The mathematics of critic-reward RL: critic losses, the gradient penalty, reward transforms.

SPIRAL trains its policy against a learned critic; the critic's raw score is a moving target
(one unconditional run saw it drift from 0.02 to 63.8 while the value loss reached 1,115).
Each stabiliser here is a pure function or a small state object, switched on by a config
field (:class:`synth.config.RLConfig`, :class:`synth.config.CriticConfig`) whose default
keeps the original behaviour:

* :func:`critic_loss` — the critic's objective: ``"wgan-gp"`` (Wasserstein, the default),
  ``"gan"`` (the standard cross-entropy GAN loss SPIRAL++ used with spectral normalisation)
  or ``"hinge"``; :func:`gradient_penalty` is WGAN-GP's penalty, usable with any of them.
* :func:`critic_value` — a critic score as the policy's reward: the score itself for the
  Wasserstein and hinge critics, ``log σ(score)`` for ``"gan"`` (the non-saturating
  generator objective, ``max log D(G(z))``).
* :class:`RunningNorm` — running mean and deviation of the critic's value (Welford/Chan's
  exact running moments, or an exponential moving average for a drifting critic); its state
  is part of the training checkpoint.
* :func:`temporal_credit` — SPIRAL++'s per-step reward ``r_t = R(c_{t+1}) − R(c_t)`` from
  the critic's value of every canvas of an episode; it sums to ``R(final) − R(blank)``.
* :func:`discounted_returns` — returns of a (T, B) per-step reward.
* :func:`ema_update` — a slowly updated copy of the critic, used for rewards.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import ConfigError

__all__ = ["CRITIC_LOSSES", "NORM_MODES", "critic_loss", "gradient_penalty", "critic_value",
           "RunningNorm", "temporal_credit", "discounted_returns", "ema_update"]

#: the values of ``CriticConfig.critic_loss``
CRITIC_LOSSES = ("wgan-gp", "gan", "hinge")
#: the values of ``RLConfig.reward_norm``
NORM_MODES = ("none", "running", "ema")


def _check_choice(name: str, value: str, valid: tuple) -> None:
    if value not in valid:
        raise ConfigError(f"{name}={value!r} must be one of {list(valid)}")


def critic_loss(kind: str, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """The critic's loss (to minimise) from its scores of real (B,) and fake (B,) images,
    without any penalty. ``"wgan-gp"``: ``E[D(fake)] − E[D(real)]``; ``"gan"``: binary
    cross-entropy with the scores as logits, ``E[softplus(−D(real))] + E[softplus(D(fake))]``;
    ``"hinge"``: ``E[relu(1 − D(real))] + E[relu(1 + D(fake))]``."""
    _check_choice("critic_loss", kind, CRITIC_LOSSES)
    if kind == "wgan-gp":
        return d_fake.mean() - d_real.mean()
    if kind == "gan":
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def critic_value(kind: str, score: torch.Tensor) -> torch.Tensor:
    """The policy's reward for critic scores ``score`` (any shape) under the critic loss
    ``kind``: the score for ``"wgan-gp"`` and ``"hinge"`` (the generator maximises ``D``),
    ``log σ(score)`` for ``"gan"`` (non-saturating: the generator maximises ``log D``)."""
    _check_choice("critic_loss", kind, CRITIC_LOSSES)
    return F.logsigmoid(score) if kind == "gan" else score


def gradient_penalty(score, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP's penalty ``E[(‖∇_x score(x)‖ − 1)²]`` at random interpolates ``x`` of ``real``
    and ``fake`` (B, ...); ``score`` maps a batch to (B,) scores. Zero for a critic whose
    gradient has norm 1 everywhere (a linear one with a unit weight vector); differentiable,
    so the critic's optimiser can minimise it."""
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device,
                     generator=generator)
    mixed = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    grad, = torch.autograd.grad(score(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


class RunningNorm:
    """Running mean and deviation of a stream of batches, and the affine map that
    standardises with them: ``normalise(x) = (x − mean) / (std + eps)``.

    ``mode="running"``: the exact mean and (population) variance of every value seen so far
    (Chan et al.'s parallel form of Welford's update, one batch at a time). ``mode="ema"``:
    ``mean ← d·mean + (1−d)·batch_mean`` and the same for the variance about the new mean,
    with ``decay`` d; the first batch sets both. ``mode="none"``: the identity, no state kept.
    :meth:`state_dict` / :meth:`load_state_dict` round-trip the state (plain floats, so a
    ``weights_only`` checkpoint holds it)."""

    def __init__(self, mode: str = "none", decay: float = 0.99, eps: float = 1e-4):
        _check_choice("reward_norm", mode, NORM_MODES)
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"reward_norm_decay={decay!r} must be in [0, 1)")
        self.mode, self.decay, self.eps = mode, decay, eps
        self.count, self.mean, self.var = 0, 0.0, 1.0

    @property
    def std(self) -> float:
        return math.sqrt(max(self.var, 0.0))

    def update(self, x: torch.Tensor) -> None:
        """Fold the values of ``x`` (any shape, at least one value) into the statistics."""
        if self.mode == "none":
            return
        x = x.detach().double().flatten()
        n, mean = x.numel(), x.mean().item()
        var = ((x - mean) ** 2).mean().item()
        if self.count == 0:
            self.mean, self.var = mean, var
        elif self.mode == "running":
            total = self.count + n
            delta = mean - self.mean
            m2 = self.var * self.count + var * n + delta * delta * self.count * n / total
            self.mean, self.var = self.mean + delta * n / total, m2 / total
        else:
            d = self.decay
            new_mean = d * self.mean + (1 - d) * mean
            # the variance of the mixture about the new mean (both parts re-centred)
            self.var = d * (self.var + (self.mean - new_mean) ** 2) + \
                (1 - d) * (var + (mean - new_mean) ** 2)
            self.mean = new_mean
        self.count += n

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` standardised by the current statistics (``x`` itself for mode ``"none"`` or
        before any update)."""
        if self.mode == "none" or self.count == 0:
            return x
        return (x - self.mean) / (self.std + self.eps)

    def state_dict(self) -> dict:
        return {"mode": self.mode, "decay": self.decay, "count": self.count,
                "mean": self.mean, "var": self.var}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state``; statistics of another mode start afresh (a resumed run
        whose config changed ``reward_norm``)."""
        if state.get("mode") != self.mode:
            return
        self.count, self.mean, self.var = int(state["count"]), float(state["mean"]), float(state["var"])


def temporal_credit(values: torch.Tensor) -> torch.Tensor:
    """SPIRAL++'s per-step rewards: ``values`` (T+1, B) — the critic's value of the canvas
    before each of T actions, then of the final canvas — → (T, B) with
    ``r_t = values[t+1] − values[t]``: each action is credited with how much more real the
    canvas looks after it. ``r.sum(0) == values[-1] − values[0]``."""
    if values.dim() != 2 or values.shape[0] < 2:
        raise ValueError(f"values must be (T+1, B) with T >= 1, got shape {tuple(values.shape)}")
    return values[1:] - values[:-1]


def discounted_returns(rewards: torch.Tensor, discount: float) -> torch.Tensor:
    """(T, B) per-step rewards → (T, B) returns ``G_t = Σ_{k≥t} discount^{k−t} r_k``."""
    out = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + discount * running
        out[t] = running
    return out


@torch.no_grad()
def ema_update(target: torch.nn.Module, source: torch.nn.Module, decay: float) -> None:
    """``target ← decay·target + (1−decay)·source`` for every floating-point parameter;
    buffers (a spectral norm's power-iteration vectors) are copied from ``source``."""
    for t, s in zip(target.parameters(), source.parameters()):
        t.lerp_(s, 1.0 - decay)
    for t, s in zip(target.buffers(), source.buffers()):
        t.copy_(s)
