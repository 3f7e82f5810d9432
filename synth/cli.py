"""``spiral train | pretrain | synthesize | eval``: the learning commands (torch loads on use)."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

__all__ = ["add_commands"]


def _passive_openmp() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` (unless the user set it) before torch is first imported:
    idle OpenMP threads then sleep instead of spinning, which on a shared machine made
    synthesis 5-10x slower. Only this process's own entry point may set it (libraries must
    not), and only before the lazy ``import torch`` does it take effect."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train the SPIRAL agent (A2C + WGAN-GP)")
    p.add_argument("--config", default=None, help="TOML file under configs/")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--resume", action="store_true", help="continue from <out_dir>/checkpoint.pt")
    p.add_argument("--pretrain", type=int, default=None, metavar="UPDATES",
                   help="first pretrain for UPDATES steps (default: the config's pretrain_updates, "
                        "skipped when init_from is set; 0 to skip); with init_from, continue from it")
    p.add_argument("--ray", action="store_true", help="run rollout workers as Ray actors")
    p.add_argument("--address", default=None, help="an existing Ray cluster (with --ray)")
    p.add_argument("--workers", type=int, default=None, help="rollout workers (overrides config)")
    p.add_argument("--pbt", action="store_true", help="population-based training on Ray Tune")
    p.add_argument("--population", type=int, default=4)
    p.add_argument("--pbt-interval", type=int, default=5, metavar="UPDATES",
                   help="updates between PBT reports (exploit/explore happens at reports)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("synthesize", help="infer programs for images")
    p.add_argument("images", nargs="+")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--method", default="policy", choices=["policy", "greedy", "policy+refine", "mcmc"])
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--domain", default="paint", choices=["paint", "scene"])
    p.add_argument("--invert", default=None, action=argparse.BooleanOptionalAction,
                   help="invert the image (light ink on dark); default: paint images whose "
                        "border is mostly dark are inverted, scenes never")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for each image's batch of samples (default 1)")
    p.set_defaults(func=cmd_synthesize)

    p = sub.add_parser("sample", help="programs drawn by an unconditional policy")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("-n", "--count", type=int, default=16)
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="mean MSE (real renders) and seconds per image on a set; "
                       "--domain scene: object recovery of the policy vs MCMC on held-out scenes")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--set", dest="set_name", default="mnist-eval")
    p.add_argument("--method", default="policy", choices=["policy", "greedy", "policy+refine"])
    p.add_argument("--limit", type=int, default=None, help="images (default 1000) or scenes (200)")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--domain", default="paint", choices=["paint", "scene"])
    p.add_argument("--refine-seconds", type=float, default=2.0, help="policy+refine: refinement time")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the targets are per core)")
    p.add_argument("--mcmc", default="1,100", metavar="MULTIPLES",
                   help="scenes: MCMC budgets as multiples of the policy's renderer calls")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.set_defaults(func=cmd_eval)


def cmd_train(args) -> int:
    from .train import load_args, train
    overrides = list(args.overrides)
    if args.workers is not None:
        overrides.append(f"workers={args.workers}")
    targs = load_args(args.config, overrides)
    targs.extra["resume"] = args.resume
    pretrain_updates = args.pretrain if args.pretrain is not None else targs.pretrain_updates
    # the config's pretraining is skipped when init_from is set; an explicit --pretrain continues
    # pretraining from init_from
    if pretrain_updates and not args.resume and (args.pretrain is not None or not targs.init_from):
        from .pretrain import pretrain
        targs.init_from = str(pretrain(targs, pretrain_updates, lr=targs.pretrain_lr,
                                       max_seconds=targs.pretrain_seconds))
    if args.pbt:
        from .distributed import run_pbt
        results = run_pbt(targs, population=args.population, interval=args.pbt_interval, address=args.address)
        best = results.get_best_result()
        print(f"best member's checkpoint: {best.checkpoint.path if best.checkpoint else 'none'}")
        return 0
    elif args.ray:
        from .distributed import train_on_ray
        train_on_ray(targs, address=args.address)
    else:
        train(targs)
    print(f"model: {Path(targs.out_dir) / 'model.pt'}")
    return 0


def cmd_synthesize(args) -> int:
    import warnings

    _passive_openmp()
    from spiral_dsl.cli import save_gif, save_png

    from .synthesize import BlankResultWarning, synthesize
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.images:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BlankResultWarning)
            program = synthesize(name, domain=args.domain, method=args.method,
                                 checkpoint=args.checkpoint, samples=args.samples, seed=args.seed,
                                 invert=args.invert, threads=args.threads)
        for w in caught:
            print(f"{name}: warning: {w.message}", file=sys.stderr)
        stem = out / Path(name).stem
        program.save(stem.with_suffix(".spl"))
        save_png(program.render(), stem.with_suffix(".png"))
        save_gif([program[:0].render()] + list(program.frames()), stem.with_suffix(".gif"))
        print(f"{name}: mse {program.metadata['mse']} in {program.metadata['seconds']}s -> {stem}.spl")
    return 0


def cmd_sample(args) -> int:
    _passive_openmp()
    import numpy as np

    from spiral_dsl.cli import save_png

    from .synthesize import generate
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    programs = generate(args.checkpoint, args.count, args.seed)
    images = []
    for k, program in enumerate(programs):
        program.save(out / f"sample{k:02d}.spl")
        images.append(program.render())
    cols = int(np.ceil(np.sqrt(len(images))))
    images += [np.ones_like(images[0])] * (cols * cols - len(images))
    rows = [np.concatenate(images[r * cols:(r + 1) * cols], 1) for r in range(cols)]
    save_png(np.concatenate([r for r in rows if r.size], 0), out / "samples.png")
    print(f"{len(programs)} programs and samples.png (libmypaint renders) in {out}")
    return 0


def cmd_eval(args) -> int:
    import json
    import warnings

    _passive_openmp()
    import numpy as np
    import torch

    from spiral_dsl.errors import SplRangeError
    from spiral_dsl.program import write_atomic

    from .data import load_set
    from .synthesize import BlankResultWarning, mse, synthesize
    if args.threads < 1:
        raise SplRangeError(f"--threads={args.threads} must be >= 1")
    torch.set_num_threads(args.threads)  # also the scene evaluation's setting
    if args.domain == "scene":
        return _eval_scenes(args)
    images, _ = load_set(args.set_name, size=64)
    limit = min(args.limit or 1000, len(images))
    picks = np.linspace(0, len(images) - 1, limit).round().astype(int)   # spread over the classes
    images = images[picks]
    scores, seconds = [], []
    for k, image in enumerate(images):
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # the figures include blank_canvas_mse
            warnings.simplefilter("ignore", BlankResultWarning)
            program = synthesize(image, domain=args.domain, method=args.method,
                                 checkpoint=args.checkpoint, samples=args.samples,
                                 seed=int(picks[k]), refine_seconds=args.refine_seconds,
                                 invert=False, threads=args.threads)  # load_set: ink on white
        seconds.append(time.perf_counter() - t0)
        scores.append(mse(program.render(), image))
        if (k + 1) % 50 == 0:
            print(f"[{k + 1}/{len(images)}] mean mse {np.mean(scores):.4f}", file=sys.stderr)
    blank = float(np.mean([(1 - im) ** 2 for im in images]))
    result = {"set": args.set_name, "method": args.method, "images": len(images),
              "samples": args.samples, "mean_mse": float(np.mean(scores)),
              "refine_seconds": args.refine_seconds if args.method == "policy+refine" else None,
              "blank_canvas_mse": blank, "seconds_per_image": float(np.mean(seconds)),
              "checkpoint": args.checkpoint or "shipped"}
    print(json.dumps(result, indent=1))
    if args.json:
        write_atomic(args.json, json.dumps(result, indent=1) + "\n")
    return 0


def _eval_scenes(args) -> int:
    """The policy (samples 1 and ``--samples``) vs blocked MH at multiples of its renderer calls."""
    import json

    from spiral_dsl.errors import SplRangeError
    from spiral_dsl.program import write_atomic

    from .scene_eval import evaluate_mcmc, evaluate_policy, held_out_scenes
    from .synthesize import load_policy
    parts = [m.strip() for m in args.mcmc.split(",") if m.strip()]
    if not all(m.isdigit() and int(m) >= 1 for m in parts):
        raise SplRangeError(f"--mcmc={args.mcmc!r}: expected comma-separated integers >= 1, e.g. 1,100")
    policy, _ = load_policy(args.checkpoint, "scene")
    scenes = held_out_scenes(policy.spec, count=args.limit or 200)
    rows = []
    for samples in sorted({1, args.samples}):
        rows.append({"method": f"policy, {samples} sample{'s' * (samples > 1)}",
                     **evaluate_policy(policy, scenes, samples)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    calls = int(rows[-1]["mean_renderer_calls"])
    for multiple in map(int, parts):
        rows.append({"method": f"MCMC, {multiple}x calls", **evaluate_mcmc(policy.spec, scenes, calls * multiple)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    print(f"{'method':<22} {'exact':>7} {'cell±1':>7} {'extra/scene':>11} {'MSE':>8} {'calls':>7} {'s/scene':>8}")
    for r in rows:
        print(f"{r['method']:<22} {r['exact_fraction']:7.3f} {r['near_fraction']:7.3f} {r['extra_per_scene']:11.2f} "
              f"{r['mean_mse']:8.5f} {r['mean_renderer_calls']:7.0f} {r['seconds_per_scene']:8.3f}")
    result = {"domain": "scene", "scenes": len(scenes[0]), "checkpoint": args.checkpoint or "shipped", "rows": rows}
    if args.json:
        write_atomic(args.json, json.dumps(result, indent=1) + "\n")
    return 0
