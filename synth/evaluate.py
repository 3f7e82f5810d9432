"""Evaluation: the figures of docs/results.md, as library functions.

``spiral eval`` is a thin wrapper over these, and so is any script that needs a row of the
results tables.

* :func:`evaluate_paint` — a synthesis method on a set of images: the mean MSE of the real
  libmypaint render of each program against its image, the seconds per image, and the blank
  canvas's MSE for scale. Images are taken evenly spread over the set (so a subset covers all
  classes of MNIST) and image ``k`` of the set is synthesized with seed ``k``, so a subset's
  results are the same images and seeds whatever else runs.
* :func:`evaluate_scenes` — object recovery of the scene policy (1 and ``samples`` samples)
  against blocked Metropolis–Hastings given multiples of the policy's renderer calls, on
  held-out scenes (:mod:`synth.scene_eval`).

Both set torch to ``threads`` threads (one by default: the figures are per core).
"""
from __future__ import annotations

import time
import warnings
from numbers import Integral

import numpy as np

from spiral_dsl.errors import SplRangeError

from .progress import progress_bar

__all__ = ["evaluate_paint", "evaluate_scenes", "spread", "PAINT_METHODS", "DEFAULT_IMAGES",
           "DEFAULT_SCENES"]

PAINT_METHODS = ("beam+fit", "policy", "greedy", "policy+refine", "beam")   # the first: the default
DEFAULT_IMAGES = 1000
DEFAULT_SCENES = 200


def _positive(name: str, value, *, allow_none: bool = False, least: int = 1) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, Integral) or value < least:
        raise SplRangeError(f"{name}={value!r} must be an integer >= {least}")


def spread(count: int, limit: int) -> np.ndarray:
    """``min(limit, count)`` indices spread evenly over ``range(count)``, first and last included."""
    _positive("limit", limit)
    n = min(limit, count)
    return np.linspace(0, count - 1, n).round().astype(int)


def evaluate_paint(set_name: str = "mnist-eval", *, limit: int = DEFAULT_IMAGES,
                   method: str | None = None, checkpoint=None, samples: int | None = None,
                   refine_seconds: float = 2.0, candidates: int | None = None,
                   polish: int | None = None, seconds: float | None = None,
                   budget: int | None = None, threads: int = 1,
                   quiet: bool = True, on_image=None) -> dict:
    """Synthesize ``limit`` images of ``set_name`` (a set name, folder or file as for
    :func:`synth.data.load_set`) with ``method`` and return the figures as a dict (the JSON
    that ``spiral eval --json`` writes).

    ``candidates`` and ``polish`` set greedy search's width and polish rounds (``method=
    "greedy"`` only; default: its own). ``seconds``: ``"beam+fit"``'s time budget per image,
    ``budget`` its fit steps (:func:`synth.synthesize.synthesize`). ``quiet=False`` draws a
    progress bar on a terminal. ``on_image(k, mse, seconds)`` is called after each image (``k``
    counts from 0).
    """
    import torch

    from .data import load_set
    from .synthesize import BlankResultWarning, mse, synthesize

    method = PAINT_METHODS[0] if method is None else method
    if method not in PAINT_METHODS:
        raise SplRangeError(f"method={method!r} is not one of {list(PAINT_METHODS)}")
    _positive("limit", limit)
    _positive("samples", samples, allow_none=True)
    _positive("threads", threads)
    _positive("candidates", candidates, allow_none=True)
    _positive("polish", polish, allow_none=True, least=0)
    _positive("budget", budget, allow_none=True)
    if budget is not None and method != "beam+fit":
        raise SplRangeError(f"budget={budget!r} sets the fit steps of method='beam+fit', not "
                            f"of method={method!r}")
    if (candidates is not None or polish is not None) and method != "greedy":
        raise SplRangeError(f"candidates and polish set greedy search; method={method!r} "
                            "does not use them")
    if not (isinstance(refine_seconds, (int, float)) and 0 < refine_seconds < float("inf")):
        raise SplRangeError(f"refine_seconds={refine_seconds!r} must be a number > 0")
    torch.set_num_threads(threads)
    images, _ = load_set(set_name, size=64)
    picks = spread(len(images), limit)

    search = {k: v for k, v in (("candidates", candidates), ("polish", polish)) if v is not None}
    if search:
        from .data import to_target
        from .search import greedy

        def one(image, seed):
            return greedy(to_target(image, 64), seed=seed, **search)
    else:
        def one(image, seed):
            with warnings.catch_warnings():  # the figures include blank_canvas_mse
                warnings.simplefilter("ignore", BlankResultWarning)
                # load_set made the targets ink on white; synthesize restores ``threads`` after
                return synthesize(image, method=method, checkpoint=checkpoint, samples=samples,
                                  seed=seed, refine_seconds=refine_seconds, seconds=seconds,
                                  budget=budget,
                                  invert=False, threads=threads)

    scores, timings = [], []
    with progress_bar(len(picks), f"eval {method}", "image", quiet=quiet) as bar:
        for k, index in enumerate(picks):
            image = images[index]
            t0 = time.perf_counter()
            program = one(image, int(index))
            timings.append(time.perf_counter() - t0)
            scores.append(mse(program.render(), image))
            bar.update(1)
            bar.set_postfix(mse=f"{np.mean(scores):.4f}", refresh=False)
            if on_image is not None:
                on_image(k, scores[-1], timings[-1])
    result = {"set": str(set_name), "method": method, "images": len(picks),
              "samples": samples if samples is not None else "default", "seconds": seconds,
              "budget": budget if budget is not None else "default",
              "mean_mse": float(np.mean(scores)),
              "refine_seconds": refine_seconds if method == "policy+refine" else None,
              "blank_canvas_mse": float(np.mean([(1 - images[i]) ** 2 for i in picks])),
              "seconds_per_image": float(np.mean(timings)),
              "checkpoint": str(checkpoint) if checkpoint else "shipped"}
    if search:
        result.update(search)
    return result


def evaluate_scenes(*, checkpoint=None, count: int = DEFAULT_SCENES, samples: int = 4,
                    mcmc_multiples=(1, 10), budget: int = 300, threads: int = 1,
                    quiet: bool = True) -> dict:
    """On ``count`` held-out scenes: the policy alone with 1 and ``samples`` samples, the
    default method (``policy+refine``: the greedy scene, then repair within ``budget``
    renderer calls), the repair alone from an empty scene (the same budget: what the policy
    adds), then blocked MH with each multiple of the default method's mean renderer
    calls (SPIRAL's comparison: equal calls and 10×). Returns ``{"domain": "scene", "scenes":
    n, "checkpoint": ..., "rows": [{"method": ..., figures}]}``. The progress bar
    (``quiet=False``, on a terminal) counts the rows."""
    import torch

    from .scene_eval import evaluate_mcmc, evaluate_policy, evaluate_repair, held_out_scenes
    from .synthesize import load_policy

    _positive("count", count)
    _positive("samples", samples)
    _positive("threads", threads)
    _positive("budget", budget)
    multiples = tuple(mcmc_multiples)
    for m in multiples:
        _positive("MCMC multiple", m)
    torch.set_num_threads(threads)
    policy, _ = load_policy(checkpoint, "scene")
    scenes = held_out_scenes(policy.spec, count=count)
    sample_counts = sorted({1, samples})
    rows = []
    with progress_bar(len(sample_counts) + 2 + len(multiples), "eval scenes", "row",
                      quiet=quiet) as bar:
        for n in sample_counts:
            bar.set_description(f"policy, {n} sample{'s' * (n > 1)}")
            rows.append({"method": f"policy, {n} sample{'s' * (n > 1)}",
                         **evaluate_policy(policy, scenes, n)})
            bar.update(1)
        bar.set_description("policy+refine")
        rows.append({"method": "policy+refine",
                     **evaluate_policy(policy, scenes, 1, method="policy+refine", budget=budget)})
        bar.update(1)
        calls = max(1, round(rows[-1]["mean_renderer_calls"]))
        bar.set_description("repair alone")
        rows.append({"method": "repair from an empty scene",
                     **evaluate_repair(policy.spec, scenes, [[] for _ in scenes[0]], budget=budget)})
        bar.update(1)
        for m in multiples:
            bar.set_description(f"MCMC, {m}x calls")
            rows.append({"method": f"MCMC, {m}x calls",
                         **evaluate_mcmc(policy.spec, scenes, calls * m)})
            bar.update(1)
    return {"domain": "scene", "scenes": len(scenes[0]),
            "checkpoint": str(checkpoint) if checkpoint else "shipped", "rows": rows}
