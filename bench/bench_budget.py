"""MSE against seconds per image: greedy search, policy sampling and the learned search at
equal time budgets (issue 15's curve).

    python bench/bench_budget.py [--checkpoint FILE] [--images 40] [--budgets 0.25,0.5,1,2,4]
                                 [--processes 2] [--set mnist-eval] [--log FILE]

Each image of ``--images`` spread over the set is solved at each budget by each method, one
torch thread per process (``--processes`` images at a time, one per core). The figures are
libmypaint MSEs of the returned program before ``tidy`` and the seconds it took:

* ``greedy`` — greedy search (48 candidates / 1 polish round under 0.5 s, 96 / 2 under 2 s,
  192 / 4 from 2 s), then local refinement (``synth.search.refine``) for what is left.
* ``policy`` — policy sampling, anytime: batches of 16 samples (``synthesize``'s ``"policy"``
  draws one) while another batch fits in the budget, then the raster's best 4 of all of them
  verified on libmypaint.
* ``beam+fit`` — the learned search: the policy-guided beam (4 × 8 under 0.6 s, else 4 × 16),
  then the gradient fit (``synth.fit``) until the budget is spent (``synthesize(...,
  method="beam+fit", seconds=b)`` without tidy).
* ``greedy+fit`` — greedy search as above, then the same fit instead of the refinement: does
  the learned part earn its place, or does the fit do all the work?
* ``beam8+fit`` (not by default) — ``beam+fit`` with the narrow beam (4 × 8) at every budget.

``--log FILE`` makes a long run resumable (all 1,000 evaluation digits take about 8.6 CPU
hours): each image's figures are appended to FILE as one JSON line as soon as it is done, and a
run with the same FILE skips the images it already holds. Its first line records the
checkpoint, set, budgets and methods; a run that asks for others is refused.
``--summary-only`` (with ``--log``) solves nothing and writes the figures of the images the log
holds so far (``images`` says how many, ``images_planned`` of how many).

Writes bench/results/bench_budget.json (``bench_budget_<set>.json`` for another set; per budget
and method: mean MSE, median and mean seconds, and the shares of the time spent in the policy
network's forward passes, the raster interpreter's forward painting and libmypaint's
statements; the rest is the fit's backward passes and optimiser, greedy search's bookkeeping,
tidy-free Python). Budgets are targets, not limits: a beam or a greedy search of the smallest
size can take longer than the smallest budget, and the table says so.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from common import write_result

METHODS = ("greedy", "policy", "beam+fit", "greedy+fit", "beam8+fit")
FINISH = 0.02   # the verification render after a fit
_WARM = False   # per worker process
_SPENT = {"policy": 0.0, "raster": 0.0, "libmypaint": 0.0}   # per worker process


def _timed(owner, name: str, part: str) -> None:
    """Wrap ``owner.name`` so that its calls' seconds add up in ``_SPENT[part]``."""
    inner = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            _SPENT[part] += time.perf_counter() - t

    setattr(owner, name, wrapper)


def _instrument() -> None:
    from spiral_dsl.interpreters.mypaint import MyPaintCanvas
    from spiral_dsl.interpreters.raster import RasterPainter
    from synth.nets import Policy
    _timed(Policy, "encode", "policy")
    _timed(Policy, "decode", "policy")
    _timed(RasterPainter, "paint", "raster")
    _timed(MyPaintCanvas, "execute", "libmypaint")


def _greedy_size(budget: float) -> tuple[int, int]:
    return (48, 1) if budget < 0.5 else (96, 2) if budget < 2 else (192, 4)


def _solve(method: str, budget: float, image, seed: int, policy) -> tuple[float, float, dict]:
    """(libmypaint MSE, seconds, seconds per part) of ``method`` on ``image`` within ``budget``
    seconds."""
    from synth.search import greedy, refine
    from synth.synthesize import (
        ANYTIME_STEPS,
        SHORT_BEAM_EXPAND,
        SHORT_BEAM_SECONDS,
        VERIFY,
        _best_rendered,
        best_of_beam,
        fit_verified,
        mse,
        policy_candidates,
    )
    for part in _SPENT:
        _SPENT[part] = 0.0
    t0 = time.perf_counter()
    if method == "policy":
        programs, scores, batch = [], [], 0
        while True:
            start = time.perf_counter()
            found, raster = policy_candidates(policy, image, 16, seed * 1000 + batch, 20,
                                              with_scores=True, best=VERIFY)
            programs += found
            scores += list(raster)
            batch += 1
            if time.perf_counter() + (time.perf_counter() - start) + 4 * FINISH > t0 + budget:
                break
        best = np.argsort(scores, kind="stable")[:VERIFY]
        _, score = _best_rendered([programs[i] for i in best], image)
    elif method in ("beam+fit", "beam8+fit"):
        expand = SHORT_BEAM_EXPAND if budget < SHORT_BEAM_SECONDS or method == "beam8+fit" else 16
        _, score = best_of_beam(policy, image, expand, seed, 20, fit_steps=ANYTIME_STEPS,
                                deadline=t0 + budget - FINISH)
    else:
        candidates, polish = _greedy_size(budget)
        program = greedy(image, seed=seed, candidates=candidates, polish=polish)
        left = t0 + budget - time.perf_counter()
        if method == "greedy":
            if left > 0.05:
                program = refine(program, image, seconds=left - 0.05, seed=seed)
            score = mse(program.render(), image)
        else:
            score = mse(program.render(), image)
            if left > FINISH:
                _, score = fit_verified(program, score, image, ANYTIME_STEPS, left - FINISH)
    return score, time.perf_counter() - t0, dict(_SPENT)


def _image_rows(job) -> dict:
    """Every (method, budget) for one image, in one worker process."""
    index, checkpoint, set_name, budgets, methods = job
    import torch
    torch.set_num_threads(1)
    from synth.data import load_set
    from synth.synthesize import load_policy
    policy, _ = load_policy(checkpoint)
    images, _ = load_set(set_name, size=64)
    global _WARM
    if not _WARM:   # a process's first calls pay for allocations and oneDNN's kernel choices
        _instrument()
        for method in methods:
            _solve(method, 0.3, images[index], 0, policy)
        _WARM = True
    out = {}
    for budget in budgets:
        for method in methods:
            out[(method, budget)] = _solve(method, budget, images[index], int(index), policy)
    return out


def _logged(path: Path | None, header: dict) -> dict:
    """index → that image's figures from the log at ``path`` (none without a log), after
    checking that the log was written for the same ``header``; a new log gets the header."""
    if path is None:
        return {}
    if not path.is_file() or path.stat().st_size == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(header) + "\n")
        return {}
    lines = path.read_text().splitlines()
    if json.loads(lines[0]) != header:
        raise SystemExit(f"{path} was written for {lines[0]}, not {json.dumps(header)}: "
                         "use another --log file")
    done = {}
    for line in lines[1:]:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:   # a line cut short by a kill: that image runs again
            continue
        done[record["index"]] = {(m, float(b)): tuple(v) for m, by in record["rows"].items()
                                 for b, v in by.items()}
    return done


def _log(path: Path | None, index: int, out: dict) -> None:
    if path is None:
        return
    rows: dict = {}
    for (method, budget), value in out.items():
        rows.setdefault(method, {})[str(budget)] = list(value)
    with path.open("a+b") as f:
        f.seek(0, 2)
        if f.tell():   # after a line a kill cut short, start a new one
            f.seek(-1, 2)
            cut = f.read(1) != b"\n"
        else:
            cut = False
        f.write(("\n" if cut else "").encode() + json.dumps({"index": index, "rows": rows}).encode() + b"\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default="synth/checkpoints/mnist_lean.pt")
    ap.add_argument("--set", dest="set_name", default="mnist-eval")
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--budgets", default="0.25,0.5,1,2,4")
    ap.add_argument("--methods", default=",".join(METHODS[:4]))
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--log", type=Path, default=None,
                    help="append each image's figures here and skip those it holds (resumable)")
    ap.add_argument("--summary-only", action="store_true",
                    help="with --log: solve nothing, write the figures of the images the log holds")
    args = ap.parse_args()
    if args.summary_only and args.log is None:
        raise SystemExit("--summary-only reads the images' figures from --log FILE: give one")
    from synth.data import load_set
    from synth.evaluate import spread
    budgets = [float(b) for b in args.budgets.split(",")]
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}: choose from {list(METHODS)}")
    images, _ = load_set(args.set_name, size=64)
    picks = spread(len(images), args.images)
    done = _logged(args.log, {"checkpoint": args.checkpoint, "set": args.set_name,
                              "budgets": budgets, "methods": methods})
    jobs = [(int(i), args.checkpoint, args.set_name, budgets, methods) for i in picks if int(i) not in done]
    planned = len(picks)
    if args.summary_only:   # the images done so far, in the order of the spread
        picks, jobs = [i for i in picks if int(i) in done], []
        if not picks:
            raise SystemExit(f"{args.log} holds none of these images yet")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max(1, min(args.processes, len(jobs)))) as pool:
        futures = {pool.submit(_image_rows, job): job[0] for job in jobs}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            _log(args.log, futures[future], done[futures[future]])
    results = [done[int(i)] for i in picks]
    rows = {}
    for method in methods:
        for budget in budgets:
            scores = [r[(method, budget)][0] for r in results]
            seconds = [r[(method, budget)][1] for r in results]
            parts = {part: sum(r[(method, budget)][2][part] for r in results) for part in _SPENT}
            rows.setdefault(method, {})[str(budget)] = {
                "mse_mean": round(float(np.mean(scores)), 5),
                "seconds_median": round(float(np.median(seconds)), 3),
                "seconds_mean": round(float(np.mean(seconds)), 3),
                **{f"{part}_share": round(spent / sum(seconds), 3) for part, spent in parts.items()}}
    # the digits keep the plain name; another set gets its own file beside it
    name = "bench_budget" if args.set_name == "mnist-eval" else f"bench_budget_{args.set_name}"
    write_result(name, {
        "benchmark": "MSE vs seconds per image at equal budgets", "checkpoint": args.checkpoint,
        "set": args.set_name, "images": len(picks), "images_planned": planned,
        # a summary of a log: its lines may come from several runs, of any number of processes
        "processes": None if args.summary_only else args.processes, "threads_per_process": 1,
        "wall_seconds": None if args.summary_only else round(time.perf_counter() - t0, 1),
        "rows": rows,
        "note": "libmypaint MSE before tidy; budgets are targets (the smallest searches can "
                "exceed the smallest budget): compare the seconds columns"})


if __name__ == "__main__":
    main()
