"""``synthesize(image)``: an image in, an editable program out.

Methods:

* ``"policy"`` (default) — run the trained policy ``samples`` times in one batch (on the raster
  interpreter it was trained on), render every candidate with real libmypaint, return the best
  by MSE.
* ``"greedy"`` — training-free stroke-by-stroke search (:mod:`synth.search`).
* ``"policy+refine"`` — the policy's best candidate, then local refinement.
* ``"mcmc"`` (scenes) — blocked Metropolis–Hastings on real MuJoCo (:mod:`synth.mcmc`), the
  baseline of SPIRAL's scene experiment; ``budget`` renderer calls.

Scenes (``domain="scene"``) take ``"policy"`` or ``"mcmc"``; candidates are scored on real
MuJoCo renders, and a policy's padding (its last object placed again in the same cell) is
dropped.

The returned program's metadata records the method, its MSE against the target (real
libmypaint render), the seconds taken and the checkpoint; metadata survives save/load.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from spiral_dsl import Program
from spiral_dsl.errors import SplRangeError

from . import checkpoint as ckpt
from .batch_env import BatchEnv
from .data import to_target

__all__ = ["synthesize", "generate", "default_checkpoint", "load_policy", "METHODS"]

METHODS = ("policy", "greedy", "policy+refine", "mcmc")
DOMAIN_METHODS = {"paint": ("policy", "greedy", "policy+refine"), "scene": ("policy", "mcmc")}
_CACHE: dict = {}


def default_checkpoint(domain: str = "paint") -> Path:
    """The checkpoint that ships with the package for ``domain``."""
    name = {"paint": "mnist.pt", "scene": "scenes.pt"}[domain]
    return Path(__file__).resolve().parent / "checkpoints" / name


def load_policy(checkpoint=None, domain: str = "paint"):
    path = Path(checkpoint) if checkpoint else default_checkpoint(domain)
    key = (str(path), path.stat().st_mtime if path.exists() else None)
    if key not in _CACHE:
        _CACHE[key] = ckpt.load_model(path)
    return _CACHE[key]


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float32) - np.asarray(b, np.float32)) ** 2))


@torch.no_grad()
def policy_candidates(policy, target: np.ndarray, samples: int, seed: int,
                      episode_length: int | None = None) -> list[Program]:
    """``samples`` programs from the policy for one target (H×W×3 float in [0, 1])."""
    spec = policy.spec
    env = BatchEnv(spec, samples, episode_length, "raster" if spec.domain == "paint" else None)
    torch.manual_seed(seed)
    t = torch.from_numpy(np.ascontiguousarray(target.transpose(2, 0, 1)))[None].expand(samples, -1, -1, -1)
    t = (t * 255 + 0.5).floor() / 255   # the policy was trained on uint8-quantised images
    obs = env.reset(t.contiguous())
    state, prev = policy.initial_state(samples), policy.no_action(samples)
    while not env.done:
        canvas = (obs["canvas"] * 255 + 0.5).floor() / 255
        out = policy(canvas, obs["target"], prev, state)
        obs = env.step(out.actions)
        prev, state = out.actions, out.state
    programs = env.programs()
    env.close()
    if spec.domain == "scene":  # the policy pads a scene by placing its last object again
        programs = [_first_in_each_cell(spec, p) for p in programs]
    return programs


def generate(checkpoint, count: int = 16, seed: int = 0) -> list[Program]:
    """``count`` programs sampled from an unconditional policy (``conditional = false``)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise SplRangeError(f"count={count!r} must be an integer >= 1")
    policy, _ = load_policy(checkpoint)
    if policy.config.conditional:
        raise SplRangeError(f"checkpoint {checkpoint} is a conditional policy: use synthesize(image)")
    size = policy.spec.settings["canvas"]
    return policy_candidates(policy, np.ones((size, size, 3), np.float32), count, seed)


def _first_in_each_cell(spec, program: Program) -> Program:
    """Drop every object placed in a cell already taken: scenes are trained with objects in
    distinct cells, padded by repeating the last object, whose resampled attributes may differ."""
    taken, kept = set(), []
    for statement in program:
        cell = spec.encode(statement)["cell"]
        if cell not in taken:
            taken.add(cell)
            kept.append(statement)
    return Program(program.header, kept)


def synthesize(target, *, domain: str = "paint", method: str = "policy", checkpoint=None,
               samples: int = 16, seed: int = 0, episode_length: int | None = None,
               refine_seconds: float = 2.0, budget: int = 1000) -> Program:
    """Infer a program that draws ``target`` (a path, or an H×W / H×W×3 uint8 or float array).

    ``episode_length`` defaults to 20 (19 actions) for paint and objects + 1 for scenes."""
    if domain not in DOMAIN_METHODS:
        raise SplRangeError(f"domain={domain!r} is not one of {list(DOMAIN_METHODS)}")
    if method not in DOMAIN_METHODS[domain]:
        raise SplRangeError(f"method={method!r} is not one of {list(DOMAIN_METHODS[domain])} "
                            f"for domain={domain!r}")
    if isinstance(samples, bool) or not (isinstance(samples, int) and samples >= 1):
        raise SplRangeError(f"samples={samples!r} must be an integer >= 1")
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    source = None
    if method == "greedy":
        from .search import greedy
        size = 64
        image = to_target(target, size)
        program = greedy(image, seed=seed, steps=(episode_length or 20) - 1)
    elif method == "mcmc":
        from spiral_dsl.actions import ActionSpec

        from .mcmc import mcmc
        spec = ActionSpec.for_domain("scene")
        image = to_target(target, spec.settings["canvas"])
        program = mcmc(image, spec=spec, budget=budget, seed=seed).program
    else:
        policy, info = load_policy(checkpoint, domain)
        size = policy.spec.settings["canvas"]
        image = to_target(target, size)
        if policy.spec.domain != domain:
            raise SplRangeError(f"checkpoint {checkpoint or default_checkpoint(domain)} is a "
                                f"{policy.spec.domain} policy, not {domain}")
        steps = episode_length or (20 if domain == "paint" else policy.spec.settings["objects"] + 1)
        candidates = policy_candidates(policy, image, samples, seed, steps)
        scores = [mse(p.render(), image) for p in candidates]
        program = candidates[int(np.argmin(scores))]
        source = str(checkpoint or default_checkpoint(domain))
        if method == "policy+refine":
            from .search import refine
            program = refine(program, image, seconds=refine_seconds, seed=seed)
    score = mse(program.render(), image)
    meta = {"method": method, "mse": f"{score:.6f}", "seconds": f"{time.perf_counter() - t0:.3f}",
            "seed": str(seed)}
    if source:
        meta["checkpoint"] = Path(source).name
    return program.with_metadata(**meta)
