"""The SPIRAL agent's parts as plain classes named by role.

Embedded training uses them in one process; :mod:`synth.distributed` wraps the same classes
with ``ray.remote``. Weights move explicitly (``get_weights``/``set_weights``) and every
trajectory carries the policy version that produced it.

* :class:`RolloutWorker` — a batched env and a policy copy; returns trajectories.
* :class:`PolicyLearner` — A2C: advantage against a value baseline, entropy bonus.

On-policy trajectories need one forward pass only: a worker in the learner's process may
sample with the learner's own policy (``rollout(policy=learner.policy)``), keeping the
autograd graph of the scores it records, and the learner back-propagates through that graph.
Any other trajectory (shipped from another process, or a policy version behind) is scored
again by teacher forcing the taken actions (:meth:`PolicyLearner.evaluate`); both give the
same gradient.
* :class:`DiscriminatorLearner` — the critic (WGAN-GP by default; the losses and stabilisers
  of :mod:`synth.critic`) on (target, final canvas) pairs.
* :class:`ReplayBuffer` — the last N batches of final canvases the critic learns from.
"""
from __future__ import annotations

import copy
import random
from collections import deque
from dataclasses import dataclass, replace

import numpy as np
import torch

from spiral_dsl.actions import ActionSpec

from .batch_env import BatchEnv
from .critic import critic_loss, critic_value, discounted_returns, ema_update, gradient_penalty
from .nets import Discriminator, Policy, PolicyConfig
from .rollout import Forced, from_uint8, sample_episode, teacher_force
from .sampler import TargetSampler

__all__ = ["Trajectory", "RolloutWorker", "PolicyLearner", "DiscriminatorLearner", "ReplayBuffer",
           "a2c_loss"]


@dataclass
class Trajectory:
    """One batch of episodes. Canvases are uint8 (compact to ship between processes)."""
    canvases: torch.Tensor       # (T+1, B, 3, H, W) uint8: observation before each action, then final
    targets: torch.Tensor        # (B, 3, H, W) uint8
    actions: dict                # slot → (T, B) long
    new_sequences: torch.Tensor  # (B,)
    blank: torch.Tensor          # (B,) bool
    policy_version: int
    # the rollout's own differentiable scores (T, B) when the learner's policy sampled it in
    # this process; None for a trajectory that was shipped or sampled by a worker's copy
    scores: Forced | None = None

    @property
    def final(self) -> torch.Tensor:
        return from_uint8(self.canvases[-1])

    def to(self, device) -> Trajectory:
        """This trajectory with its tensors on ``device`` (a no-op where they already are)."""
        scores = None if self.scores is None else Forced(
            *(x.to(device) for x in (self.scores.log_prob, self.scores.entropy, self.scores.value)))
        return Trajectory(self.canvases.to(device), self.targets.to(device),
                          {s: a.to(device) for s, a in self.actions.items()},
                          self.new_sequences.to(device), self.blank.to(device), self.policy_version, scores)

    def without_scores(self) -> Trajectory:
        """This trajectory as another process would receive it (no autograd graph)."""
        return replace(self, scores=None)


class RolloutWorker:
    """Runs ``batch`` episodes at a time with its own copy of the policy."""

    def __init__(self, spec: ActionSpec, policy_config: PolicyConfig, batch: int, episode_length: int,
                 targets: np.ndarray | None, interpreter: str | None = None, seed: int = 0,
                 threads: int | None = None, device: str = "cpu"):
        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(seed)
        self.spec, self.device = spec, torch.device(device)
        self.policy = Policy(spec, policy_config).to(self.device)
        self.policy.eval()
        self.env = BatchEnv(spec, batch, episode_length, interpreter, device=device)
        self.targets = None if targets is None else torch.from_numpy(np.ascontiguousarray(
            targets.transpose(0, 3, 1, 2))).to(self.device)                  # (N, 3, H, W) float
        self.sampler = None if targets is None else TargetSampler(targets, seed)
        self.version = 0

    def set_weights(self, weights: dict, version: int) -> None:
        self.policy.load_state_dict(weights)
        self.version = version

    def sample_targets(self, batch: int) -> torch.Tensor:
        """The next ``batch`` targets: each image once per epoch, in a seeded order."""
        return self.targets[torch.from_numpy(self.sampler.indices(batch)).to(self.device)]

    def rollout(self, policy: Policy | None = None) -> Trajectory:
        """One batch of episodes (:func:`synth.rollout.sample_episode`) sampled by this worker's
        policy copy, or by ``policy`` — the learner's own, whose weights this worker's version
        names — keeping the autograd graph of its scores (``Trajectory.scores``) so the
        learner need not run the policy again."""
        B = self.env.batch
        targets = self.sample_targets(B) if self.targets is not None else torch.ones(
            B, 3, self.env.size, self.env.size, device=self.device)
        episode = sample_episode(policy or self.policy, self.env, targets, keep_graph=policy is not None)
        scores = Forced(episode.log_prob, episode.entropy, episode.value) if policy is not None else None
        return Trajectory(episode.canvases, episode.targets, episode.actions,
                          self.env.new_sequences.clone(), self.env.blank_mask(), self.version, scores)


class ReplayBuffer:
    """The last ``capacity`` batches of (target, final canvas) pairs."""

    def __init__(self, capacity: int = 20, seed: int = 0):
        self.items: deque = deque(maxlen=capacity)
        self.rng = random.Random(seed)

    def add(self, targets_u8: torch.Tensor, finals_u8: torch.Tensor) -> None:
        self.items.append((targets_u8, finals_u8))

    def __len__(self) -> int:
        return sum(len(t) for t, _ in self.items)

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [(t[i], f[i]) for t, f in self.items for i in range(len(t))]
        chosen = [pairs[self.rng.randrange(len(pairs))] for _ in range(batch)]
        return (from_uint8(torch.stack([c[0] for c in chosen])), from_uint8(torch.stack([c[1] for c in chosen])))


class DiscriminatorLearner:
    """The critic (Adam, β1 0.5) on final canvases, conditional on the target when asked.

    ``loss``: ``"wgan-gp"`` (default), ``"gan"`` or ``"hinge"`` (:func:`synth.critic.critic_loss`);
    ``gp_weight`` > 0 adds WGAN-GP's gradient penalty (to any loss); ``spectral_norm``
    normalises every layer (:class:`synth.nets.Discriminator`); ``centre`` > 0 adds
    ``centre · (mean real score)²``, which pins the Wasserstein critic's free offset at zero
    (its loss is unchanged by adding a constant to every score, so the score drifts);
    ``ema`` > 0 keeps ``ema_net``, an exponential moving average of the critic's weights
    (decay ``ema``, updated after every step) that :meth:`value` uses for rewards."""

    def __init__(self, size: int, conditional: bool, lr: float = 1e-4, gp_weight: float = 10.0,
                 channels: int = 32, device: str = "cpu", loss: str = "wgan-gp",
                 spectral_norm: bool = False, ema: float = 0.0, centre: float = 0.0):
        self.device = torch.device(device)
        self.net = Discriminator(size, conditional, channels, spectral_norm).to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr, betas=(0.5, 0.999))
        self.gp_weight, self.loss_kind, self.ema, self.centre = gp_weight, loss, ema, centre
        critic_loss(loss, torch.zeros(1), torch.zeros(1))  # an unknown loss fails here, not mid-run
        self.conditional = conditional
        self.ema_net = None
        if ema > 0:
            self.ema_net = copy.deepcopy(self.net).eval()
            self.ema_net.requires_grad_(False)

    def get_weights(self) -> dict:
        return {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}

    def set_weights(self, weights: dict) -> None:
        self.net.load_state_dict(weights)

    def get_ema_weights(self) -> dict | None:
        """The EMA critic's weights (``None`` without one)."""
        if self.ema_net is None:
            return None
        return {k: v.detach().cpu().clone() for k, v in self.ema_net.state_dict().items()}

    def set_ema_weights(self, weights: dict | None) -> None:
        """Load the EMA critic (``None``: restart it as a copy of the online critic)."""
        if self.ema_net is not None:
            self.ema_net.load_state_dict(weights if weights is not None else self.net.state_dict())

    def score(self, images: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        """The online critic's raw scores (B,), with autograd."""
        return self.net(images, targets if self.conditional else None)

    @torch.no_grad()
    def value(self, images: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        """The policy's reward for ``images`` (B,): :func:`synth.critic.critic_value` of the
        scores of the EMA critic when there is one, else of the online critic (evaluated
        without a power iteration, so scoring leaves its spectral-norm state unchanged)."""
        net = self.ema_net if self.ema_net is not None else self.net
        was_training = net.training
        net.eval()
        try:
            scores = net(images, targets if self.conditional else None)
        finally:
            net.train(was_training)
        return critic_value(self.loss_kind, scores)

    def update(self, real: torch.Tensor, fake: torch.Tensor, targets: torch.Tensor | None) -> dict:
        """One critic step. Conditional: real pairs are (x, x), fake pairs (x, rendering).
        Returns the loss, the mean scores of real and fake, and the penalties computed."""
        real, fake = real.to(self.device), fake.to(self.device)
        cond = targets.to(self.device) if self.conditional else None
        d_real, d_fake = self.net(real, cond), self.net(fake, cond)
        loss = critic_loss(self.loss_kind, d_real, d_fake)
        out = {}
        if self.gp_weight > 0:
            gp = gradient_penalty(lambda x: self.net(x, cond), real, fake)
            loss = loss + self.gp_weight * gp
            out["gp"] = gp.item()
        if self.centre > 0:
            centre = d_real.mean() ** 2
            loss = loss + self.centre * centre
            out["d_centre"] = centre.item()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        if self.ema_net is not None:
            ema_update(self.ema_net, self.net, self.ema)
        return {"d_loss": loss.item(), "d_real": d_real.mean().item(),
                "d_fake": d_fake.mean().item(), **out}


class PolicyLearner:
    """A2C on trajectories: returns from the final (or per-step) reward, a value baseline, an
    entropy bonus."""

    def __init__(self, spec: ActionSpec, policy_config: PolicyConfig, lr: float = 1e-4,
                 entropy_coef: float = 0.01, value_coef: float = 0.5, discount: float = 0.99,
                 max_grad_norm: float = 10.0, device: str = "cpu"):
        self.spec, self.device = spec, torch.device(device)
        self.policy = Policy(spec, policy_config).to(self.device)
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=lr)
        self.entropy_coef, self.value_coef, self.discount = entropy_coef, value_coef, discount
        self.max_grad_norm = max_grad_norm
        self.version = 0

    def get_weights(self) -> dict:
        """CPU copies (workers may live on another device or in another process)."""
        return {k: v.detach().cpu().clone() for k, v in self.policy.state_dict().items()}

    def set_hyperparameters(self, lr: float | None = None, entropy_coef: float | None = None) -> None:
        if lr is not None:
            for g in self.opt.param_groups:
                g["lr"] = lr
        if entropy_coef is not None:
            self.entropy_coef = entropy_coef

    def evaluate(self, traj: Trajectory):
        """Re-run the policy on the stored observations, teacher forcing the taken actions
        (:func:`synth.rollout.teacher_force`): log-probabilities, entropies, values (T, B)."""
        forced = teacher_force(self.policy, traj.canvases, traj.targets, traj.actions)
        return forced.log_prob, forced.entropy, forced.value

    def scores(self, traj: Trajectory):
        """Log-probabilities, entropies and values (T, B) of the taken actions under the
        current policy, with their graph: the rollout's own when it carries them and was
        sampled by this policy's current version (one forward pass), else by teacher forcing."""
        own = traj.scores
        if own is not None and own.log_prob.requires_grad and traj.policy_version == self.version:
            return own.log_prob, own.entropy, own.value
        return self.evaluate(traj)

    def loss(self, traj: Trajectory, reward: torch.Tensor, value_only: bool = False):
        """The A2C loss of one trajectory and its parts (:func:`a2c_loss`; see :meth:`update`)."""
        traj, reward = traj.to(self.device), reward.to(self.device)
        return a2c_loss(*self.scores(traj), reward, discount=self.discount, value_coef=self.value_coef,
                        entropy_coef=self.entropy_coef, value_only=value_only)

    def update(self, traj: Trajectory, reward: torch.Tensor, value_only: bool = False) -> dict:
        """One A2C step. ``reward``: (B,) the reward at the last step, or (T, B) a reward per
        step (temporal credit). ``value_only`` trains just the baseline (a warm-up after
        pretraining, whose value head is untrained): only the value head's weights move."""
        loss, parts = self.loss(traj, reward, value_only)
        self.opt.zero_grad()
        loss.backward()
        return {**{k: v.item() for k, v in parts.items()}, **self.step(value_only), "loss": loss.item()}

    def step(self, value_only: bool = False) -> dict:
        """Clip the gradients now in the policy's ``.grad`` and take the optimiser's step (the
        end of :meth:`update`; :class:`synth.gradients.GradientPool` fills ``.grad`` with the
        average of its workers' gradients first). Returns the gradient norm before clipping.

        ``value_only``: every gradient but the value head's is dropped first, so the shared
        trunk does not move (the value loss alone, through the encoder the policy shares,
        raised a pretrained policy's batch MSE from 0.062 to 0.091 in 50 warm-up updates);
        the optimiser keeps no state for the parameters it skipped."""
        if value_only:
            head = {id(p) for p in self.policy.value_head.parameters()}
            for p in self.policy.parameters():
                if id(p) not in head:
                    p.grad = None
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
        self.opt.step()
        self.version += 1
        return {"grad_norm": float(grad_norm)}


def a2c_loss(logp: torch.Tensor, ent: torch.Tensor, value: torch.Tensor, reward: torch.Tensor, *,
             discount: float, value_coef: float, entropy_coef: float, value_only: bool = False):
    """A2C's loss from the scores (T, B) of the taken actions: ``(loss, parts)``.

    Computes ``G_t`` from ``reward`` — (B,) at the last step (``G_t = discount^(T-1-t) · R``) or
    (T, B) per step (discounted sums) — the advantage ``G_t - V_t``, and the loss
    ``-mean(log π · advantage) + value_coef · ½ mean(advantage²) - entropy_coef · mean(entropy)``
    (only the value term with ``value_only``). Every term is a mean over (T, B), so the
    gradient of a batch is the average of the gradients of equal halves of it (what
    :class:`synth.gradients.GradientPool` relies on). ``parts``: the three terms (tensors)."""
    T = logp.shape[0]
    if reward.dim() == 1:
        powers = discount ** torch.arange(T - 1, -1, -1, dtype=torch.float32, device=logp.device)
        returns = powers[:, None] * reward[None, :]                                # (T, B)
    else:
        if reward.shape != logp.shape:
            raise ValueError(f"per-step rewards must be (T, B) = {tuple(logp.shape)}, "
                             f"got {tuple(reward.shape)}")
        returns = discounted_returns(reward, discount)
    advantage = returns - value
    policy_loss = -(logp * advantage.detach()).mean()
    value_loss = 0.5 * (advantage ** 2).mean()
    entropy = ent.mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    if value_only:
        loss = value_coef * value_loss
    return loss, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
