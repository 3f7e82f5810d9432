"""The policy-guided beam (``synth.beam``) against the same policy's samples and greedy search.

    python bench/bench_beam.py [--checkpoint FILE] [--images 20] [--rows sample16,beam4x16+fit30,greedy96/2,...]

Rows, each on the same ``--images`` evaluation digits (spread over the classes), alternating
image by image, one thread: ``sampleN`` (``synthesize``'s ``"policy"`` method before tidy: N
samples, the raster's best 4 verified), ``beamWxE`` (a beam of W partial programs, E proposals
each, the beam's best 4 verified), ``greedyC/P`` (greedy search, C candidates, P polish rounds);
any of them followed by ``+fitN``: the program's arguments fitted by N gradient steps through
the raster (``synth.fit``), kept when libmypaint scores it lower (``synthesize``'s
``"beam+fit"`` is ``beam4x16+fit30``). Each row: mean libmypaint MSE of the returned program
(before ``tidy``) and median seconds.
Writes bench/results/bench_beam.json.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from common import write_result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default="synth/checkpoints/mnist_lean.pt")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--set", dest="set_name", default="mnist-eval",
                    help="evaluation set (e.g. glyphs-dejavu: printed letters)")
    ap.add_argument("--rows", default="sample16,beam4x8,beam4x16,beam8x16,greedy96/2,greedy192/4,"
                    "sample16+fit30,beam4x8+fit30,beam4x16+fit20,beam4x16+fit30,greedy96/2+fit30")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    from synth.beam import beam_search
    from synth.data import load_set
    from synth.evaluate import spread
    from synth.search import greedy
    from synth.synthesize import _best_rendered, best_of_policy, fit_verified, load_policy, mse

    policy, _ = load_policy(args.checkpoint)
    images, _ = load_set(args.set_name, size=64)
    images = images[spread(len(images), args.images)]
    rows = args.rows.split(",")

    def found(name: str, image, seed: int):
        """(program, its libmypaint MSE) of the search ``name`` names."""
        if name.startswith("sample"):
            return best_of_policy(policy, image, int(name[6:]), seed, 20, with_score=True)
        if name.startswith("greedy"):
            candidates, polish = map(int, name[6:].split("/"))
            program = greedy(image, seed=seed, candidates=candidates, polish=polish)
            return program, mse(program.render(), image)
        if name.startswith("beam"):
            width, expand = map(int, name[4:].split("x"))
            programs, _ = beam_search(policy, image, width=width, expand=expand, steps=19, seed=seed)
            return _best_rendered(programs[:4], image)
        raise SystemExit(f"unknown row {name!r}: sampleN, beamWxE or greedyC/P, then +fitN or not")

    def run(name: str, image, seed: int) -> float:
        search, _, steps = name.partition("+fit")
        program, score = found(search, image, seed)
        if steps:
            _, score = fit_verified(program, score, image, int(steps))
        return score

    errors = {name: [] for name in rows}
    seconds = {name: [] for name in rows}
    for k, image in enumerate(images):
        for name in rows:
            t0 = time.perf_counter()
            errors[name].append(run(name, image, k))
            seconds[name].append(time.perf_counter() - t0)
    write_result("bench_beam" if args.set_name == "mnist-eval" else f"bench_beam_{args.set_name}", {
        "benchmark": "policy-guided beam vs samples vs greedy search", "checkpoint": args.checkpoint,
        "set": args.set_name,
        "images": len(images), "threads": 1,
        "rows": {name: {"mse_mean": round(float(np.mean(errors[name])), 5),
                        "seconds_median": round(float(np.median(seconds[name])), 3)} for name in rows},
        "note": "libmypaint MSE of the returned program before tidy; rows alternate image by image"})


if __name__ == "__main__":
    main()
