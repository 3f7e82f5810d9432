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
* :class:`DiscriminatorLearner` — WGAN-GP critic on (target, final canvas) pairs.
* :class:`ReplayBuffer` — the last N batches of final canvases the critic learns from.
"""
from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, replace

import numpy as np
import torch

from spiral_dsl.actions import ActionSpec

from .batch_env import BatchEnv
from .nets import Discriminator, Policy, PolicyConfig
from .rollout import Forced, from_uint8, sample_episode, teacher_force
from .sampler import TargetSampler

__all__ = ["Trajectory", "RolloutWorker", "PolicyLearner", "DiscriminatorLearner", "ReplayBuffer"]


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
    """WGAN-GP critic (Adam lr 1e-4, β1 0.5), conditional on the target when asked."""

    def __init__(self, size: int, conditional: bool, lr: float = 1e-4, gp_weight: float = 10.0,
                 channels: int = 32, device: str = "cpu"):
        self.device = torch.device(device)
        self.net = Discriminator(size, conditional, channels).to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr, betas=(0.5, 0.999))
        self.gp_weight = gp_weight
        self.conditional = conditional

    def get_weights(self) -> dict:
        return {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}

    def set_weights(self, weights: dict) -> None:
        self.net.load_state_dict(weights)

    def score(self, images: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        return self.net(images, targets if self.conditional else None)

    def update(self, real: torch.Tensor, fake: torch.Tensor, targets: torch.Tensor | None) -> dict:
        """One critic step. Conditional: real pairs are (x, x), fake pairs (x, rendering)."""
        real, fake = real.to(self.device), fake.to(self.device)
        cond = targets.to(self.device) if self.conditional else None
        d_real, d_fake = self.net(real, cond), self.net(fake, cond)
        eps = torch.rand(real.shape[0], 1, 1, 1, device=self.device)
        mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
        grad, = torch.autograd.grad(self.net(mixed, cond).sum(), mixed, create_graph=True)
        gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss = d_fake.mean() - d_real.mean() + self.gp_weight * gp
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"d_loss": loss.item(), "d_real": d_real.mean().item(), "d_fake": d_fake.mean().item(), "gp": gp.item()}


class PolicyLearner:
    """A2C on trajectories: returns from the final reward, a value baseline, an entropy bonus."""

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

    def loss(self, traj: Trajectory, final_reward: torch.Tensor, value_only: bool = False):
        """The A2C loss of one trajectory and its parts (see :meth:`update`)."""
        traj, final_reward = traj.to(self.device), final_reward.to(self.device)
        logp, ent, value = self.scores(traj)
        T = logp.shape[0]
        powers = self.discount ** torch.arange(T - 1, -1, -1, dtype=torch.float32, device=self.device)  # (T,)
        returns = powers[:, None] * final_reward[None, :]                              # (T, B)
        advantage = returns - value
        policy_loss = -(logp * advantage.detach()).mean()
        value_loss = 0.5 * (advantage ** 2).mean()
        entropy = ent.mean()
        loss = policy_loss + self.value_coef * value_loss - self.entropy_coef * entropy
        if value_only:
            loss = self.value_coef * value_loss
        return loss, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}

    def update(self, traj: Trajectory, final_reward: torch.Tensor, value_only: bool = False) -> dict:
        """One A2C step. ``final_reward`` (B,) is the reward at the last step. ``value_only``
        trains just the baseline (a warm-up after pretraining, whose value head is untrained)."""
        loss, parts = self.loss(traj, final_reward, value_only)
        policy_loss, value_loss, entropy = parts["policy_loss"], parts["value_loss"], parts["entropy"]
        self.opt.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
        self.opt.step()
        self.version += 1
        return {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
                "entropy": entropy.item(), "grad_norm": float(grad_norm), "loss": loss.item()}
