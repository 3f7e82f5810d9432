"""Scene inversion with the scene policy (``arch = "scene"``): propose, then repair.

* :func:`policy_scenes` runs the policy: step by step it reads the target and the canvas so far
  (rendered by real MuJoCo after every placed object), picks a free cell or *stop*, then the
  object's shape, size and colour. Sample 0 is greedy (every argmax); samples 1.. are drawn
  at ``temperature`` from a seeded generator. The candidate closest to the target (MSE of its
  final render) wins.
* :func:`invert_scene` is the default method for scenes (``"policy+refine"``): the policy's
  best scene, then render-and-compare repair (:mod:`synth.scene_repair`) under a renderer-call
  budget, whose *birth* moves ask the policy where the missing objects are
  (:func:`policy_proposals`: the top cells of its map for the current canvas, each with its
  most likely object).

Deterministic for a seed; every render is counted (``renderer.calls``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .mcmc import SCENE_SLOTS, SceneRenderer
from .scene_net import ATTRIBUTES

__all__ = ["Episodes", "run_episodes", "policy_scenes", "policy_proposals", "invert_scene",
           "SceneInversion"]


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(image, np.float32).transpose(2, 0, 1)))[None]


@dataclass
class Episodes:
    """A batch of scene episodes. Recorded steps, flattened over (episode, step): ``target``,
    ``canvas`` (N, 3, H, W); ``used`` (N, grid²); ``choice`` (N,) a cell or grid² for stop;
    ``attributes`` slot → (N,); ``episode`` (N,) the row each step belongs to. Per episode:
    ``scenes`` the final action lists, ``images`` their renders, ``errors`` their MSE."""
    target: torch.Tensor
    canvas: torch.Tensor
    used: torch.Tensor
    choice: torch.Tensor
    attributes: dict
    episode: torch.Tensor
    scenes: list
    images: list
    errors: np.ndarray


@torch.no_grad()
def run_episodes(policy, targets: np.ndarray, render: SceneRenderer, greedy: bool,
                 generator: torch.Generator | None = None, temperature: float = 1.0,
                 blank: np.ndarray | None = None) -> Episodes:
    """One episode per target (B, H, W, 3): the policy places objects (greedy, or sampled with
    ``generator`` at ``temperature``) until it stops or the scene holds ``objects``, every
    canvas rendered by ``render``. ``blank``: the empty table's render, if already made."""
    b, objects = len(targets), policy.spec.settings["objects"]
    target_t = torch.cat([_tensor(t) for t in targets])
    blank = render([]) if blank is None else blank
    images, scenes = [blank] * b, [[] for _ in range(b)]
    used = torch.zeros(b, policy.grid ** 2, dtype=torch.bool)
    steps: list[tuple] = []
    alive = list(range(b))
    while alive:
        rows = torch.tensor(alive)
        canvas = torch.cat([_tensor(images[r]) for r in alive])
        step = policy.act(target_t[rows], canvas, used[rows], greedy=greedy, generator=generator,
                          temperature=temperature)
        choice = torch.where(step.stop, torch.full_like(step.actions["cell"], policy.grid ** 2),
                             step.actions["cell"])
        steps.append((rows, canvas, used[rows].clone(), choice,
                      {s: step.actions[s] for s in ATTRIBUTES}))
        still = []
        for j, r in enumerate(alive):
            if bool(step.stop[j]):
                continue
            scenes[r].append({s: int(step.actions[s][j]) for s in SCENE_SLOTS})
            used[r, scenes[r][-1]["cell"]] = True
            images[r] = render(scenes[r])
            if len(scenes[r]) < objects:   # a full scene is done: no choice is left to make
                still.append(r)
        alive = still
    errors = np.array([float(np.mean((images[r] - targets[r]) ** 2)) for r in range(b)])
    rows = torch.cat([s[0] for s in steps])
    return Episodes(target_t[rows], torch.cat([s[1] for s in steps]),
                    torch.cat([s[2] for s in steps]), torch.cat([s[3] for s in steps]),
                    {a: torch.cat([s[4][a] for s in steps]) for a in ATTRIBUTES}, rows, scenes,
                    images, errors)


def policy_scenes(policy, target: np.ndarray, samples: int = 1, seed: int = 0,
                  renderer: SceneRenderer | None = None, temperature: float = 1.0
                  ) -> tuple[list[list[dict[str, int]]], list[np.ndarray]]:
    """``samples`` scenes (action dicts) from the policy for ``target`` (H×W×3 in [0, 1]) and
    their final renders: the greedy episode, then ``samples - 1`` sampled ones."""
    render = renderer or SceneRenderer(policy.spec)
    target = np.asarray(target, np.float32)
    blank = render([])
    runs = [run_episodes(policy, target[None], render, greedy=True, blank=blank)]
    if samples > 1:
        runs.append(run_episodes(policy, np.repeat(target[None], samples - 1, 0), render,
                                 greedy=False, generator=torch.Generator().manual_seed(seed),
                                 temperature=temperature, blank=blank))
    return [s for r in runs for s in r.scenes], [im for r in runs for im in r.images]


@torch.no_grad()
def policy_proposals(policy, target: np.ndarray, canvas: np.ndarray,
                     actions: list[dict[str, int]], k: int = 3) -> list[dict[str, int]]:
    """The policy's ``k`` most likely next objects for ``target`` given the current
    ``canvas`` (an H×W×3 render of ``actions``): its top ``k`` free cells, whatever its stop
    logit says, each with its greedy shape, size and colour."""
    g2 = policy.spec.settings["grid"] ** 2
    used = torch.zeros(1, g2 + 1, dtype=torch.bool)
    used[0, [a["cell"] for a in actions]] = True
    used[0, g2] = True                       # the repair decides by the render, not by stop
    x = policy.inputs(_tensor(target), _tensor(canvas))
    fmap, logits = policy.cell_map(x)
    logits = logits.masked_fill(used, float("-inf"))
    k = min(k, g2 - len(actions))
    if k <= 0:
        return []
    cells = logits[0].topk(k).indices
    h = policy.object_features(x.expand(k, -1, -1, -1), fmap.expand(k, -1, -1, -1), cells)
    chosen, _ = policy.attribute_logits(h)
    return [{"shape": int(chosen["shape"][j]), "cell": int(cells[j]), "size": int(chosen["size"][j]),
             "red": int(chosen["red"][j]), "green": int(chosen["green"][j]),
             "blue": int(chosen["blue"][j])} for j in range(k)]


@dataclass
class SceneInversion:
    """What :func:`invert_scene` found: the scene, its MSE (real MuJoCo), renderer calls in
    all (policy steps, scoring and repair), and the policy's scene before repair."""
    actions: list[dict[str, int]]
    mse: float
    renderer_calls: int
    proposed: list[dict[str, int]]


def invert_scene(policy, target: np.ndarray, *, samples: int = 1, seed: int = 0,
                 budget: int = 400, refine: bool = True) -> SceneInversion:
    """The policy's best of ``samples`` scenes for ``target``, then (``refine``) repair with at
    most ``budget`` further renderer calls, birth moves proposed by the policy."""
    render = SceneRenderer(policy.spec)
    target = np.asarray(target, np.float32)
    scenes, images = policy_scenes(policy, target, samples, seed, render)
    errors = [float(np.mean((im - target) ** 2)) for im in images]
    best = int(np.argmin(errors))
    proposed, error = scenes[best], errors[best]
    actions = proposed
    if refine and error > 0:
        from .scene_repair import repair

        def propose(tgt, canvas, current):
            return policy_proposals(policy, tgt, canvas, current)
        result = repair(target, proposed, policy.spec, budget=budget, propose=propose,
                        renderer=render)
        actions, error = result.actions, result.mse
    return SceneInversion(actions, error, render.calls, proposed)
