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

__all__ = ["policy_scenes", "policy_proposals", "invert_scene", "SceneInversion"]


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(image, np.float32).transpose(2, 0, 1)))[None]


def _objects(step, rows) -> list[dict[str, int]]:
    return [{s: int(step.actions[s][r]) for s in SCENE_SLOTS} for r in rows]


@torch.no_grad()
def policy_scenes(policy, target: np.ndarray, samples: int = 1, seed: int = 0,
                  renderer: SceneRenderer | None = None, temperature: float = 1.0
                  ) -> tuple[list[list[dict[str, int]]], list[np.ndarray]]:
    """``samples`` scenes (action dicts) from the policy for ``target`` (H×W×3 in [0, 1]) and
    their final renders."""
    spec = policy.spec
    render = renderer or SceneRenderer(spec)
    g2 = spec.settings["grid"] ** 2
    gen = torch.Generator().manual_seed(seed)
    target_t = _tensor(target)
    blank = render([])
    scenes: list[list[dict[str, int]]] = [[] for _ in range(samples)]
    images = [blank] * samples
    used = torch.zeros(samples, g2, dtype=torch.bool)
    alive = list(range(samples))
    for _ in range(spec.settings["objects"]):
        if not alive:
            break
        canvas = torch.cat([_tensor(images[r]) for r in alive])
        greedy_rows = [k for k, r in enumerate(alive) if r == 0]
        sampled_rows = [k for k, r in enumerate(alive) if r != 0]
        chosen: dict[int, dict | None] = {}
        for rows, greedy in ((greedy_rows, True), (sampled_rows, False)):
            if not rows:
                continue
            index = torch.tensor(rows)
            step = policy.act(target_t.expand(len(rows), -1, -1, -1), canvas[index],
                              used[[alive[k] for k in rows]], greedy=greedy, generator=gen,
                              temperature=temperature)
            for j, (k, obj) in enumerate(zip(rows, _objects(step, range(len(rows))))):
                chosen[alive[k]] = None if bool(step.stop[j]) else obj
        still = []
        for r in alive:
            obj = chosen[r]
            if obj is None:
                continue
            scenes[r].append(obj)
            used[r, obj["cell"]] = True
            images[r] = render(scenes[r])
            still.append(r)
        alive = still
    return scenes, images


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
