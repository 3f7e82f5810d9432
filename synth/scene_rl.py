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
from dataclasses import dataclass

import numpy as np
import torch

from .mcmc import SCENE_SLOTS, SceneRenderer
from .scene_net import ATTRIBUTES, ScenePolicy

__all__ = ["Episodes", "run_episodes", "rl_update"]


@dataclass
class Episodes:
    """Recorded steps of a batch of episodes, flattened over (episode, step): ``target``,
    ``canvas`` (N, 3, H, W); ``used`` (N, grid²); ``choice`` (N,); ``attributes`` slot →
    (N,); ``episode`` (N,) the row each step belongs to. ``scenes``: the final action lists;
    ``errors``: the final MSE per episode."""
    target: torch.Tensor
    canvas: torch.Tensor
    used: torch.Tensor
    choice: torch.Tensor
    attributes: dict
    episode: torch.Tensor
    scenes: list
    errors: np.ndarray


def _tensor(images) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2)))


@torch.no_grad()
def run_episodes(policy: ScenePolicy, targets: np.ndarray, render: SceneRenderer, greedy: bool,
                 generator: torch.Generator | None = None) -> Episodes:
    """One episode per target (B, H, W, 3), every step's canvas rendered by ``render``."""
    b = len(targets)
    g2 = policy.grid ** 2
    target_t = _tensor(list(targets))
    blank = render([])
    images, scenes = [blank] * b, [[] for _ in range(b)]
    used = torch.zeros(b, g2, dtype=torch.bool)
    steps: list[tuple] = []
    alive = list(range(b))
    for _ in range(policy.spec.settings["objects"] + 1):
        if not alive:
            break
        rows = torch.tensor(alive)
        canvas = _tensor([images[r] for r in alive])
        step = policy.act(target_t[rows], canvas, used[rows], greedy=greedy, generator=generator)
        choice = torch.where(step.stop, torch.full_like(step.actions["cell"], g2), step.actions["cell"])
        steps.append((rows, canvas, used[rows].clone(), choice,
                      {s: step.actions[s] for s in ATTRIBUTES}))
        still = []
        for j, r in enumerate(alive):
            if bool(step.stop[j]) or len(scenes[r]) == policy.spec.settings["objects"]:
                continue
            scenes[r].append({s: int(step.actions[s][j]) for s in SCENE_SLOTS})
            used[r, scenes[r][-1]["cell"]] = True
            images[r] = render(scenes[r])
            still.append(r)
        alive = still
    errors = np.array([float(np.mean((images[r] - targets[r]) ** 2)) for r in range(b)])
    rows = torch.cat([s[0] for s in steps])
    return Episodes(target_t[rows], torch.cat([s[1] for s in steps]), torch.cat([s[2] for s in steps]),
                    torch.cat([s[3] for s in steps]),
                    {a: torch.cat([s[4][a] for s in steps]) for a in ATTRIBUTES}, rows, scenes, errors)


def rl_update(policy: ScenePolicy, opt: torch.optim.Optimizer, targets: np.ndarray,
              render: SceneRenderer, generator: torch.Generator, reward_scale: float,
              entropy_coef: float) -> dict[str, float]:
    """One self-critical policy-gradient update on ``targets`` (B, H, W, 3); its metrics."""
    policy.eval()   # no dropout or batch norm: eval only marks the acting passes
    greedy = run_episodes(policy, targets, render, greedy=True)
    sampled = run_episodes(policy, targets, render, greedy=False, generator=generator)
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
