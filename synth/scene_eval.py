"""Evaluation of scene inversion: object recovery, held-out scenes, and the MCMC baseline.

Held-out scenes are disjoint *by seed* from training: training draws its scene targets from
``random.Random(seed)`` with ``seed < TRAINING_SEEDS_BELOW`` (10_000; ``synth.train`` passes its
run seed to :func:`synth.data.scene_targets`), and :func:`held_out_scenes` refuses seeds below
that. Both draw scenes the same way (1..objects objects, uniform slots, distinct cells), so the
two sets are distributed alike; a scene can coincide with a training scene only by chance
(about one in 10^5 for a one-object scene, far less for larger ones).
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from numbers import Integral

import numpy as np

from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplRangeError, SplTypeError

from .mcmc import SCENE_SLOTS, SceneRenderer, mcmc

__all__ = ["TRAINING_SEEDS_BELOW", "object_recovery", "held_out_scenes", "evaluate_mcmc",
           "evaluate_policy", "evaluate_repair"]

TRAINING_SEEDS_BELOW = 10_000


def _objects(actions, what: str, grid: int) -> set[tuple[int, ...]]:
    """Scene actions as a set of (shape, cell, size, red, green, blue) tuples."""
    if isinstance(actions, (str, bytes)) or not isinstance(actions, Sequence):
        raise SplTypeError(f"{what} must be a list of action dicts, not {type(actions).__name__}")
    out = set()
    for k, action in enumerate(actions):
        if not isinstance(action, Mapping):
            raise SplTypeError(f"{what}[{k}] must be an action dict, not {type(action).__name__}")
        row = []
        for slot in SCENE_SLOTS:
            v = action.get(slot)
            if not isinstance(v, Integral) or isinstance(v, bool) or v < 0:
                raise SplRangeError(f"{what}[{k}][{slot!r}]={v!r} is out of range: slots "
                                    f"{list(SCENE_SLOTS)} are integers >= 0")
            row.append(int(v))
        if row[1] >= grid * grid:
            raise SplRangeError(f"{what}[{k}]['cell']={row[1]} is out of range "
                                f"[0, {grid * grid - 1}] for grid={grid}")
        out.add(tuple(row))
    return out


def _near(a: tuple, b: tuple, grid: int) -> bool:
    """Same shape, cells within 1 row and 1 column (Chebyshev distance <= 1)."""
    (ca, ra), (cb, rb) = divmod(a[1], grid)[::-1], divmod(b[1], grid)[::-1]
    return a[0] == b[0] and abs(ca - cb) <= 1 and abs(ra - rb) <= 1


def object_recovery(true_actions, pred_actions, *, grid: int = 16) -> dict[str, int]:
    """How many true objects a predicted scene recovers.

    Both scenes are sets: identical objects count once. Returns ``objects`` (distinct true
    objects); ``exact``: true objects with an identical predicted object (shape, cell, size,
    colour); ``near``: the size of a maximum one-to-one matching (Hopcroft–Karp, optimal)
    between true and predicted objects of the same shape whose cells are within 1 row and 1
    column, exact matches included (``exact <= near``); ``extra``: distinct predicted objects
    left out of that matching.
    """
    if not isinstance(grid, Integral) or isinstance(grid, bool) or grid < 1:
        raise SplRangeError(f"grid={grid!r} is out of range: an integer >= 1")
    true = sorted(_objects(true_actions, "true_actions", grid))
    pred = sorted(_objects(pred_actions, "pred_actions", grid))
    exact = len(set(true) & set(pred))
    near = _maximum_matching(true, pred, grid)
    return {"objects": len(true), "exact": exact, "near": near, "extra": len(pred) - near}


def _maximum_matching(true: list, pred: list, grid: int) -> int:
    import networkx as nx
    from networkx.algorithms.bipartite import hopcroft_karp_matching

    graph = nx.Graph()
    left = [("true", k) for k in range(len(true))]
    graph.add_nodes_from(left)
    graph.add_nodes_from(("pred", k) for k in range(len(pred)))
    graph.add_edges_from((("true", i), ("pred", j)) for i, a in enumerate(true)
                         for j, b in enumerate(pred) if _near(a, b, grid))
    matching = hopcroft_karp_matching(graph, top_nodes=left)
    return sum(1 for node in left if node in matching)


def held_out_scenes(spec: ActionSpec, count: int = 200, seed: int = 12345,
                    size: int | None = None) -> tuple[list[list[dict[str, int]]], np.ndarray]:
    """``count`` random scenes of 1..objects objects and their MuJoCo renders (count×S×S×3).

    Drawn by :func:`synth.data.random_scenes`, as training targets are; ``seed`` must be
    >= :data:`TRAINING_SEEDS_BELOW`.
    """
    from .data import random_scenes

    if not isinstance(spec, ActionSpec) or spec.domain != "scene":
        raise SplTypeError(f"spec must be a scene ActionSpec, not {spec!r}")
    for name, value, lo in (("count", count, 1), ("seed", seed, TRAINING_SEEDS_BELOW)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < lo:
            why = " (seeds below it are training seeds)" if name == "seed" else ""
            raise SplRangeError(f"{name}={value!r} is out of range: an integer >= {lo}{why}")
    scenes = random_scenes(spec, count, seed)
    render = SceneRenderer(spec, size)
    return scenes, np.stack([render(actions) for actions in scenes])


def _aggregate(records: list[tuple[dict, float, int]], seconds: float, **extra) -> dict[str, float]:
    """Sum per-scene (recovery counts, mse, renderer calls) into the reported figures."""
    totals = {"objects": 0, "exact": 0, "near": 0, "extra": 0}
    perfect = 0
    for counts, _, _ in records:
        for key in totals:
            totals[key] += counts[key]
        perfect += counts["exact"] == counts["objects"] and counts["extra"] == 0
    n = len(records)
    return {"scenes": n, "objects": totals["objects"], **extra,
            "exact_fraction": totals["exact"] / totals["objects"],
            "near_fraction": totals["near"] / totals["objects"],
            "extra_per_scene": totals["extra"] / n,
            "scene_exact_fraction": perfect / n,
            "mean_mse": float(np.mean([r[1] for r in records])),
            "mean_renderer_calls": float(np.mean([r[2] for r in records])),
            "seconds_per_scene": seconds / n}


def _check_scenes(scenes) -> None:
    actions_lists, targets = scenes
    if len(actions_lists) != len(targets) or len(targets) == 0:
        raise SplRangeError(f"scenes has {len(actions_lists)} action lists and {len(targets)} "
                            "targets: expected the same number, at least 1")


def evaluate_mcmc(spec: ActionSpec, scenes, budget: int, seed: int = 0) -> dict[str, float]:
    """Run :func:`synth.mcmc.mcmc` (seed ``seed + k`` on scene ``k``) on ``scenes`` =
    ``(actions lists, targets)`` as from :func:`held_out_scenes` and aggregate.

    Fractions are over all true objects of all scenes; ``scene_exact_fraction``: scenes whose
    objects are all recovered exactly with no extra object; ``seconds_per_scene``: wall time.
    """
    _check_scenes(scenes)
    grid = spec.settings["grid"]
    records, acceptance = [], []
    start = time.perf_counter()
    for k, (true, target) in enumerate(zip(*scenes)):
        result = mcmc(np.asarray(target), spec=spec, budget=budget, seed=seed + k)
        records.append((object_recovery(true, result.actions, grid=grid), result.mse, result.renderer_calls))
        acceptance.append(result.acceptance_rate)
    return _aggregate(records, time.perf_counter() - start, budget=budget,
                      mean_acceptance_rate=float(np.mean(acceptance)))


def evaluate_policy(policy, scenes, samples: int, seed: int = 0, method: str = "policy",
                    budget: int = 300) -> dict[str, float]:
    """The scene policy on ``scenes``: ``samples`` programs per scene (seed ``seed + k``), the
    best by MSE on real MuJoCo; ``method="policy+refine"`` then repairs it with at most
    ``budget`` renderer calls (:mod:`synth.scene_repair`).

    Renderer calls are counted as the interpreter makes them. The scene policy
    (``arch = "scene"``, :func:`synth.scene_synth.invert_scene`) renders the blank table and one
    canvas per placed object and sample. An older policy renders the blank canvas and one
    render per step for every sample, plus one scoring render per sample when ``samples > 1``."""
    if method not in ("policy", "policy+refine"):
        raise SplRangeError(f"method={method!r} is not one of ['policy', 'policy+refine']")
    _check_scenes(scenes)
    spec = policy.spec
    grid = spec.settings["grid"]
    records = []
    start = time.perf_counter()
    for k, (true, target) in enumerate(zip(*scenes)):
        target = np.asarray(target)
        actions, error, calls = _invert(policy, target, samples, seed + k, method, budget)
        records.append((object_recovery(true, actions, grid=grid), error, calls))
    return _aggregate(records, time.perf_counter() - start, samples=samples)


def evaluate_repair(spec: ActionSpec, scenes, starts, *, budget: int = 600,
                    propose=None) -> dict[str, float]:
    """:func:`synth.scene_repair.repair` from ``starts[k]`` on scene ``k`` of ``scenes`` =
    ``(actions lists, targets)`` (as from :func:`held_out_scenes`), aggregated like
    :func:`evaluate_policy`, plus ``budget`` and ``max_renderer_calls``."""
    from .scene_repair import repair

    _check_scenes(scenes)
    truths, targets = scenes
    if len(starts) != len(truths):
        raise SplRangeError(f"{len(truths)} scenes and {len(starts)} starts: expected one start "
                            "per scene")
    grid = spec.settings["grid"]
    renderer = SceneRenderer(spec, size=np.asarray(targets[0]).shape[0])
    records = []
    start = time.perf_counter()
    for true, target, init in zip(truths, targets, starts):
        result = repair(np.asarray(target), init, spec, budget=budget, propose=propose,
                        renderer=renderer)
        records.append((object_recovery(true, result.actions, grid=grid), result.mse,
                        result.renderer_calls))
    return _aggregate(records, time.perf_counter() - start, budget=budget,
                      max_renderer_calls=max(r[2] for r in records))


def _invert(policy, target, samples, seed, method, budget) -> tuple[list, float, int]:
    """One scene: (actions, MSE, renderer calls) by the policy's kind of inversion."""
    if getattr(policy.config, "arch", "") == "scene":
        from .scene_synth import invert_scene
        found = invert_scene(policy, target, samples=samples, seed=seed, budget=budget,
                             refine=method == "policy+refine")
        return found.actions, found.mse, found.renderer_calls
    from .synthesize import policy_candidates
    spec = policy.spec
    steps = spec.settings["objects"]
    render = SceneRenderer(spec)
    programs = policy_candidates(policy, target, samples, seed, steps + 1)
    candidates = [spec.encode_program(p) for p in programs]
    errors = [float(np.mean((render(c) - target) ** 2)) for c in candidates]
    best = int(np.argmin(errors))
    calls = samples * (steps + 1) + (samples if samples > 1 else 0)
    actions, error = candidates[best], errors[best]
    if method == "policy+refine" and actions:
        from .scene_repair import repair
        result = repair(target, actions, spec, budget=budget, renderer=render)
        actions, error, calls = result.actions, result.mse, calls + result.renderer_calls
    return actions, error, calls
