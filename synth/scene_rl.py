"""Policy-gradient fine-tuning of the scene policy on real MuJoCo renders.

    spiral train --config configs/scenes.toml --set updates=N      # after the supervised stage

Read top to bottom. Each update:

1. ``batch`` fresh random training scenes (a seeded stream, seeds below the held-out ones)
   are rendered; the policy inverts each twice, *greedily* (every argmax) and *sampled*
   (:meth:`ScenePolicy.act`), placing objects until it stops, every canvas rendered by MuJoCo.
2. Reward: ``-MSE × reward_scale`` of the final render. The baseline is the greedy episode's
   reward on the same scene (self-critical sequence training, Rennie et al. 2017): a sample
   is reinforced exactly when it beats what the policy would do anyway, so the update needs
   no learned value and cannot drift while the policy is already right (advantage 0).
3. Loss: ``-mean(advantage × Σ_t log π(a_t))`` minus ``entropy_coef`` × the mean entropy of
   the cell/stop choices; the log-probabilities are recomputed with gradients by
   :meth:`ScenePolicy.score` on the recorded (target, canvas, used cells, action) steps.

Why this and not SPIRAL's A2C with a learned value: the scene policy starts from supervised
training that already gets most objects right, and a learned value would first have to catch
up with it; the greedy episode is a baseline that is right from the first update.
"""
from __future__ import annotations

import random

import numpy as np
import torch

from .mcmc import SceneRenderer
from .scene_net import ScenePolicy
from .scene_synth import run_episodes

__all__ = ["rl_update", "training_targets"]


def rl_update(policy: ScenePolicy, opt: torch.optim.Optimizer, targets: np.ndarray,
              render: SceneRenderer, generator: torch.Generator, reward_scale: float,
              entropy_coef: float) -> dict[str, float]:
    """One self-critical policy-gradient update on ``targets`` (B, H, W, 3); its metrics."""
    policy.eval()   # no dropout or batch norm: eval only marks the acting passes
    blank = render([])
    greedy = run_episodes(policy, targets, render, greedy=True, blank=blank)
    sampled = run_episodes(policy, targets, render, greedy=False, generator=generator, blank=blank)
    advantage = torch.from_numpy(reward_scale * (greedy.errors - sampled.errors)).float()
    policy.train()
    log_prob, entropy = policy.score(sampled.target.float(), sampled.canvas.float(), sampled.used,
                                     sampled.choice, sampled.attributes)
    per_episode = torch.zeros(len(targets)).index_add(0, sampled.episode, log_prob)
    loss = -(advantage * per_episode).mean() - entropy_coef * entropy.mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), 10.0)
    opt.step()
    return {"loss": loss.item(), "greedy_mse": float(greedy.errors.mean()),
            "sampled_mse": float(sampled.errors.mean()),
            "greedy_exact": float(np.mean(greedy.errors == 0)),
            "sampled_exact": float(np.mean(sampled.errors == 0)),
            "advantage": float(advantage.abs().mean()), "entropy": entropy.mean().item()}


def training_targets(spec, count: int, rng: random.Random, render: SceneRenderer) -> np.ndarray:
    """``count`` fresh random training scenes (seeds drawn below the held-out ones), rendered."""
    from .data import random_scenes
    scenes = random_scenes(spec, count, rng.randrange(10_000))
    return np.stack([render(s) for s in scenes])
