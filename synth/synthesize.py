"""``synthesize(image)``: an image in, an editable program out.

Methods:

* ``"policy"`` — run the trained policy ``samples`` times in one batch (on the raster
  interpreter it was trained on), render the raster's best :data:`VERIFY` (4) candidates with
  real libmypaint, return the best of them by MSE (:func:`best_of_policy`).
* ``"greedy"`` — training-free stroke-by-stroke search (:mod:`synth.search`).
* ``"beam"`` (paint) — the policy proposes each next statement, ``samples`` per partial program,
  and a beam of :data:`synth.beam.WIDTH` (4) partial programs survives by raster MSE
  (:mod:`synth.beam`); the beam's best :data:`VERIFY` are rendered by libmypaint.
* ``"beam+fit"`` (paint's default) — the beam's best, then its arguments fitted to the target by
  ``budget`` (default 24) gradient steps through the differentiable raster (:mod:`synth.fit`),
  kept only if libmypaint agrees it is better. The default paint checkpoint is
  ``mnist_chars.pt`` (digits and printed characters; docs/results.md).
* ``"policy+refine"`` — the policy's best candidate, then local refinement.
* ``"mcmc"`` (scenes) — blocked Metropolis–Hastings on real MuJoCo (:mod:`synth.mcmc`), the
  baseline of SPIRAL's scene experiment; ``budget`` renderer calls.

Scenes (``domain="scene"``) take ``"policy+refine"`` (their default), ``"policy"`` or
``"mcmc"``. With the scene policy (``arch = "scene"``, :mod:`synth.scene_synth`) the policy
places objects until it decides to stop, the best of ``samples`` scenes (real MuJoCo) is kept,
and ``"policy+refine"`` repairs it by render-and-compare moves (:mod:`synth.scene_repair`)
within ``budget`` renderer calls. An older scene checkpoint (``arch = "spiral"``) pads its
episodes by placing its last object again: that padding is dropped.

A paint program is tidied last (:func:`synth.tidy.tidy`): colours snapped to 8 bits (printed
as ``#rrggbb``), runs of moves merged, and statements whose removal keeps the MSE within
``1e-4`` dropped, each step checked by a real render.

The returned program's metadata records the method, its MSE against the target (real
libmypaint render), the seconds taken and the checkpoint; metadata survives save/load.

**Input.** A path (read by :func:`synth.data.read_image`) or an array, both checked against
:data:`synth.limits.LIMITS` before decoding. Paint targets are dark ink on white paper; a
light-on-dark image (a white-on-black MNIST digit) is inverted automatically when its border
is mostly dark (``invert=None``); ``invert=True``/``False`` forces it. Scenes are never
inverted unless ``invert=True``. When the result is no better than a blank canvas,
:class:`BlankResultWarning` is issued (``warnings.warn``; the CLI prints it).

**Threads.** ``synthesize`` runs torch on ``threads`` threads (default 1) for its duration:
on a shared machine torch's default (one per core, busy-waiting) oversubscribes the cores and
was 5–10× slower; parallel work belongs in processes (one image per core).
"""
from __future__ import annotations

import contextlib
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from spiral_dsl import Program
from spiral_dsl.errors import SplRangeError

from . import checkpoint as ckpt
from .batch_env import BatchEnv
from .data import to_target
from .rollout import sample_episode

__all__ = ["synthesize", "sample", "default_checkpoint", "load_policy", "METHODS", "best_of_policy",
           "fit_verified", "BlankResultWarning", "torch_threads"]

METHODS = ("policy", "greedy", "policy+refine", "beam", "beam+fit", "mcmc")
DOMAIN_METHODS = {"paint": ("beam+fit", "policy", "greedy", "policy+refine", "beam"),
                  "scene": ("policy+refine", "policy", "mcmc")}
#: Per domain: the default method (the first of DOMAIN_METHODS), samples and renderer budget.
DEFAULT_SAMPLES = {"paint": 16, "scene": 1}
DEFAULT_BUDGET = {"mcmc": 1000, "policy+refine": 300, "beam+fit": 24}
_CACHE: dict = {}


class BlankResultWarning(UserWarning):
    """The synthesized program is no better (MSE) than a blank canvas: the target is probably
    unlike what the method was made for (light ink on a dark background with ``invert=False``,
    a photograph, another domain)."""


def _invert_mode(invert, domain: str):
    """``synthesize``'s ``invert`` (None = auto for paint, never for scenes) → ``to_target``'s."""
    if invert is not None and not isinstance(invert, bool):
        raise SplRangeError(f"invert={invert!r} is not one of [None, True, False]")
    if invert is None:
        return "auto" if domain == "paint" else False
    return invert


#: Warn when the result keeps at least this fraction of a blank canvas's error. On the shipped
#: evaluation digits the policy keeps 11-37% of it; the light-on-dark digits of issue 13 kept
#: 92-100% (a few strokes of dark ink on a black page).
BLANK_WARNING_RATIO = 0.9


def _warn_if_blank(program: Program, image: np.ndarray, score: float) -> None:
    """Warn when ``program`` is (hardly) better than its own empty canvas on ``image``."""
    blank = mse(program[:0].render(), image)
    if blank > 1e-6 and score >= BLANK_WARNING_RATIO * blank:
        hint = ("paint targets are dark ink on a light background: is the image light on dark "
                "(pass invert=True) or unlike the training images?" if program.domain == "paint"
                else "is the image a scene like the training scenes (same camera and table)?")
        warnings.warn(BlankResultWarning(
            f"the result (mse {score:.4f}) is no better than a blank canvas (mse {blank:.4f}) "
            f"or within {1 - BLANK_WARNING_RATIO:.0%} of it; {hint}"), stacklevel=_user_frame())


def _user_frame() -> int:
    """The ``stacklevel`` of the first caller outside spiral-dsl (``synthesize`` is reached
    directly or through the ``spiral_dsl.synthesize`` facade), so the warning names user code."""
    import os
    import sys

    import spiral_dsl
    inside = tuple(str(Path(f).resolve().parent) + os.sep for f in (__file__, spiral_dsl.__file__))
    frame, level = sys._getframe(1), 1   # level 1: the function that calls warnings.warn
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


@contextlib.contextmanager
def torch_threads(threads: int):
    """Run the block with torch on ``threads`` intra-op threads, then restore the setting."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SplRangeError(f"threads={threads!r} must be an integer >= 1")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def default_checkpoint(domain: str = "paint") -> Path:
    """The checkpoint that ships with the package for ``domain`` (``"unconditional"``: the
    unconditional digit painter that :func:`sample` uses)."""
    name = {"paint": "mnist_chars.pt", "scene": "scenes.pt",
            "unconditional": "mnist_unconditional.pt"}[domain]
    return Path(__file__).resolve().parent / "checkpoints" / name


def load_policy(checkpoint=None, domain: str = "paint"):
    path = Path(checkpoint) if checkpoint else default_checkpoint(domain)
    key = (str(path), path.stat().st_mtime if path.exists() else None)
    if key not in _CACHE:
        _CACHE[key] = ckpt.load_model(path)
    return _CACHE[key]


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float32) - np.asarray(b, np.float32)) ** 2))


@torch.inference_mode()   # no autograd bookkeeping at all: 4-5% of a lean episode
def policy_candidates(policy, target: np.ndarray, samples: int, seed: int,
                      episode_length: int | None = None, *, with_scores: bool = False,
                      best: int | None = None):
    """``samples`` programs from the policy for one target (H×W×3 float in [0, 1]); with
    ``with_scores`` also their MSEs (``samples``,) on the rollout's interpreter (paint: the
    raster, an approximation of libmypaint), as ``(programs, scores)``. ``best``: only the
    ``best`` programs by that MSE, best first (ties in sample order), with ``with_scores``."""
    spec = policy.spec
    env = BatchEnv(spec, samples, episode_length, "raster" if spec.domain == "paint" else None)
    torch.manual_seed(seed)
    t = torch.from_numpy(np.ascontiguousarray(target.transpose(2, 0, 1)))[None].expand(samples, -1, -1, -1)
    sample_episode(policy, env, t, scores=False)   # quantises: the policy saw uint8 images
    rows = None
    if with_scores:
        scores = ((env.canvas.float() - t.float()) ** 2).flatten(1).mean(1).cpu().numpy()
        if best is not None:   # decode only the programs the caller will look at
            rows = np.argsort(scores, kind="stable")[:best]
            scores = scores[rows]
    programs = env.programs(rows)
    env.close()
    if spec.domain == "scene":  # the policy pads a scene by placing its last object again
        programs = [_first_in_each_cell(spec, p) for p in programs]
    return (programs, scores) if with_scores else programs


#: Paint candidates verified on libmypaint: the best ``VERIFY`` of the raster's ranking. On
#: 100 evaluation digits (16 samples of the shipped policy) the best of the raster's top 4
#: scored a mean libmypaint MSE of 0.02866, as did the best of all 16 (top 1: 0.02944, top 2:
#: 0.02891), for a quarter of the renders.
VERIFY = 4


def best_of_policy(policy, image: np.ndarray, samples: int, seed: int, steps: int,
                   verify: int | None = None, *, with_score: bool = False):
    """The best of ``samples`` policy programs for ``image`` by real (libmypaint) MSE, among the
    ``verify`` (default :data:`VERIFY`, read at the call) best by the raster's MSE (all of them
    when ``verify >= samples``); with ``with_score``, ``(program, its libmypaint MSE)``."""
    verify = VERIFY if verify is None else verify
    shortlist, _ = policy_candidates(policy, image, samples, seed, steps, with_scores=True, best=verify)
    program, score = _best_rendered(_merged(shortlist), image)
    return (program, score) if with_score else program


def best_of_beam(policy, image: np.ndarray, expand: int, seed: int, steps: int,
                 fit_steps: int = 0, deadline: float | None = None) -> tuple[Program, float]:
    """The policy-guided beam's (:func:`synth.beam.beam_search`) best program for ``image`` by
    real (libmypaint) MSE among its :data:`VERIFY` best by the raster's, and that MSE. With
    ``fit_steps``, that program's arguments fitted by so many gradient steps
    (:func:`synth.fit.fit`), stopping at ``deadline`` (``time.perf_counter()``) if one is
    given, when libmypaint scores the fitted program lower."""
    from .beam import beam_search
    programs, _ = beam_search(policy, image, expand=expand, steps=steps - 1, seed=seed)
    program, score = _best_rendered(_merged(programs[:VERIFY]), image)
    left = None if deadline is None else deadline - time.perf_counter()
    if fit_steps and (left is None or left > 0):
        program, score = fit_verified(program, score, image, fit_steps, left)
    return program, score


def fit_verified(program: Program, score: float, image: np.ndarray, steps: int,
                 seconds: float | None = None) -> tuple[Program, float]:
    """``program`` (libmypaint MSE ``score`` on ``image``) with its arguments fitted by
    :func:`synth.fit.fit` (``steps``, ``seconds``), when libmypaint scores the fitted program
    lower; else ``program`` itself. Returns the program kept and its libmypaint MSE."""
    from .fit import fit
    fitted, _ = fit([program], image, steps=steps, seconds=seconds)
    return _best_rendered([program, fitted[0]], image, known={0: score})


def _merged(programs: list[Program]) -> list[Program]:
    """``programs`` without runs of moves (:func:`synth.tidy.merge_moves`), before libmypaint
    scores them: exact for the pen and on the raster the candidates were chosen on, and the
    fit then moves the one move that counts (tidy alone may have to keep a run: on libmypaint
    every move draws a random number, so merging re-rolls the texture of later strokes)."""
    from .tidy import merge_moves
    return [merge_moves(p) for p in programs]


def _best_rendered(shortlist: list[Program], image: np.ndarray,
                   known: dict | None = None) -> tuple[Program, float]:
    """The program of ``shortlist`` closest to ``image`` on libmypaint, and its MSE (the first
    of equals). ``known``: index → libmypaint MSE already measured (not rendered again)."""
    known = known or {}
    scores = [known[i] if i in known else mse(program.render(), image)
              for i, program in enumerate(shortlist)]
    best = int(np.argmin(scores))
    return shortlist[best], scores[best]


#: The most programs one :func:`sample` call draws (each is a policy episode and a render).
MAX_SAMPLES = 4096


def sample(count: int = 16, *, seed: int = 0, checkpoint=None, threads: int = 1) -> list[Program]:
    """``count`` programs drawn from an unconditional policy (``conditional = false``): the
    shipped digit painter (``synth/checkpoints/mnist_unconditional.pt``, trained by
    ``spiral train --config configs/mnist_unconditional.toml``) unless ``checkpoint`` names
    another. The same ``seed`` gives the same programs."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SAMPLES:
        raise SplRangeError(f"count={count!r} is out of range: an integer in [1, {MAX_SAMPLES}]")
    path = Path(checkpoint) if checkpoint else default_checkpoint("unconditional")
    if not path.is_file():
        raise ckpt.CheckpointError(f"checkpoint {path} does not exist" + (
            "" if checkpoint else ": train it with `spiral train --config "
            "configs/mnist_unconditional.toml` and copy its model.pt there"))
    with torch_threads(threads):
        policy, _ = load_policy(path)
        if policy.config.conditional:
            raise SplRangeError(f"checkpoint {path} is a conditional policy: use "
                                "synthesize(image)")
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


def _scene(policy, image, method: str, samples: int, seed: int, steps: int, budget: int) -> Program:
    """A scene policy's program for ``image``: the scene policy's inversion
    (:func:`synth.scene_synth.invert_scene`), or an older policy's best candidate, repaired
    for ``"policy+refine"``."""
    from .scene_synth import invert_scene
    spec = policy.spec
    if getattr(policy.config, "arch", "") == "scene":
        found = invert_scene(policy, image, samples=samples, seed=seed, budget=budget,
                             refine=method == "policy+refine")
        return Program.from_actions(spec, found.actions)
    candidates = policy_candidates(policy, image, samples, seed, steps)
    scores = [mse(p.render(), image) for p in candidates]
    program = candidates[int(np.argmin(scores))]
    if method == "policy+refine" and len(program):
        from .scene_repair import repair
        program = Program.from_actions(spec, repair(image, spec.encode_program(program), spec,
                                                    budget=budget).actions)
    return program


def synthesize(target, *, domain: str = "paint", method: str | None = None, checkpoint=None,
               samples: int | None = None, seed: int = 0, episode_length: int | None = None,
               refine_seconds: float = 2.0, budget: int | None = None,
               seconds: float | None = None, invert: bool | None = None, threads: int = 1) -> Program:
    """Infer a program that draws ``target`` (a path, or an H×W / H×W×3 uint8 or float array).

    ``method`` defaults to the domain's best (paint ``"beam+fit"``, scenes ``"policy+refine"``);
    ``samples`` to 16 (paint) or 1 (scenes: the greedy scene, then repair); ``budget``
    (renderer calls) to 1,000 for ``"mcmc"`` and 300 for the scene repair, and (gradient
    steps) to 24 for ``"beam+fit"`` (on 100 evaluation digits, one core: 30 steps gave a mean
    MSE of 0.0091 in 0.99 s, 24 steps 0.0096 in 0.83 s, 20 steps 0.0099 in 0.74 s).
    ``seconds`` (``"beam+fit"`` only) makes it anytime: the
    beam proposes 8 statements per partial program instead of 16 when ``seconds`` is under
    :data:`SHORT_BEAM_SECONDS`, and the fit stops when the call has run ``seconds`` less
    :data:`FINISH_SECONDS` (verification and tidy), or after ``budget`` steps when one is given
    (the number of steps, and so the program, then depends on the machine's speed).
    ``episode_length`` defaults to 20 (19 actions) for paint and objects + 1 for scenes.
    ``invert``: None (paint: invert light-on-dark images, detected from the border; scenes:
    never), True or False. ``threads``: torch threads while it runs (default 1). Warns
    :class:`BlankResultWarning` when the result is no better than a blank canvas."""
    mode = _invert_mode(invert, domain)
    with torch_threads(threads):
        return _synthesize(target, domain=domain, method=method, checkpoint=checkpoint,
                           samples=samples, seed=seed, episode_length=episode_length,
                           refine_seconds=refine_seconds, budget=budget, seconds=seconds,
                           invert=mode)


#: ``seconds`` below this: the beam proposes :data:`SHORT_BEAM_EXPAND` statements per partial
#: program (``bench/bench_beam.py``: a beam of 4 × 8 took 0.27 s per digit, 4 × 16 0.45 s).
SHORT_BEAM_SECONDS = 0.6
SHORT_BEAM_EXPAND = 8
#: Of ``seconds``, what the fit leaves for verifying on libmypaint and tidying (about 0.1 s
#: per digit for 19 statements, one thread).
FINISH_SECONDS = 0.1
#: The fit's step limit when ``seconds`` is given without a ``budget``.
ANYTIME_STEPS = 100_000


def _synthesize(target, *, domain, method, checkpoint, samples, seed, episode_length,
                refine_seconds, budget, seconds, invert) -> Program:
    if domain not in DOMAIN_METHODS:
        raise SplRangeError(f"domain={domain!r} is not one of {list(DOMAIN_METHODS)}")
    method = DOMAIN_METHODS[domain][0] if method is None else method
    if seconds is not None:
        if method != "beam+fit":
            raise SplRangeError(f"seconds={seconds!r} is the time budget of method='beam+fit', "
                                f"not of method={method!r}")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < float("inf"):
            raise SplRangeError(f"seconds={seconds!r} must be a number > 0")
        if samples is None and seconds < SHORT_BEAM_SECONDS:
            samples = SHORT_BEAM_EXPAND
        if budget is None:
            budget = ANYTIME_STEPS
    samples = DEFAULT_SAMPLES[domain] if samples is None else samples
    if budget is None:
        budget = DEFAULT_BUDGET.get(method, 1)
    if isinstance(budget, bool) or not (isinstance(budget, int) and budget >= 1):
        raise SplRangeError(f"budget={budget!r} must be an integer >= 1 (renderer calls)")
    if method not in DOMAIN_METHODS[domain]:
        raise SplRangeError(f"method={method!r} is not one of {list(DOMAIN_METHODS[domain])} "
                            f"for domain={domain!r}")
    if isinstance(samples, bool) or not (isinstance(samples, int) and samples >= 1):
        raise SplRangeError(f"samples={samples!r} must be an integer >= 1")
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    source, score = None, None
    if method == "greedy":
        from .search import greedy
        size = 64
        image = to_target(target, size, invert)
        program = greedy(image, seed=seed, steps=(episode_length or 20) - 1)
    elif method == "mcmc":
        from spiral_dsl.actions import ActionSpec

        from .mcmc import mcmc
        spec = ActionSpec.for_domain("scene")
        image = to_target(target, spec.settings["canvas"], invert)
        program = mcmc(image, spec=spec, budget=budget, seed=seed).program
    else:
        policy, info = load_policy(checkpoint, domain)
        size = policy.spec.settings["canvas"]
        image = to_target(target, size, invert)
        if policy.spec.domain != domain:
            raise SplRangeError(f"checkpoint {checkpoint or default_checkpoint(domain)} is a "
                                f"{policy.spec.domain} policy, not {domain}")
        steps = episode_length or (20 if domain == "paint" else policy.spec.settings["objects"] + 1)
        source = str(checkpoint or default_checkpoint(domain))
        if domain == "scene":
            program = _scene(policy, image, method, samples, seed, steps, budget)
        elif method in ("beam", "beam+fit"):
            deadline = None if seconds is None else t0 + seconds - FINISH_SECONDS
            program, score = best_of_beam(policy, image, samples, seed, steps,
                                          fit_steps=budget if method == "beam+fit" else 0,
                                          deadline=deadline)
        else:
            program, score = best_of_policy(policy, image, samples, seed, steps, with_score=True)
        if method == "policy+refine" and domain == "paint":
            from .search import refine
            program, score = refine(program, image, seconds=refine_seconds, seed=seed), None
    if score is None:
        score = mse(program.render(), image)
    _warn_if_blank(program, image, score)
    if domain == "paint":   # readable: hex colours, no move runs, no statement that does not help
        from .tidy import tidy
        # tidy rewrites an ``mse`` entry with its own last render's score: no render again
        program = tidy(program.with_metadata(mse=f"{score:.6f}"), image, score=score)
        score = float(program.metadata["mse"])
    meta = {"method": method, "mse": f"{score:.6f}", "seconds": f"{time.perf_counter() - t0:.3f}",
            "seed": str(seed)}
    if source:
        meta["checkpoint"] = Path(source).name
    return program.with_metadata(**meta)
