"""``spiral train | synthesize | sample | eval``: the learning commands (torch loads on use).

Registered with the language CLI through the ``spiral_dsl.commands`` entry-point group
(pyproject.toml; see :mod:`spiral_dsl.cli`): :func:`add_commands` is the entry point. Long
commands draw a progress bar with an ETA on stderr when it is a terminal (``-q`` to hide it).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

from spiral_dsl import INSTALL_SYNTH
from spiral_dsl.cli import positive_int
from spiral_dsl.errors import SplBackendError, SplRangeError

__all__ = ["add_commands", "output_bases"]

#: What ``spiral synthesize`` writes per image, after the image's output base.
OUTPUT_SUFFIXES = (".spl", ".render.png", ".replay.gif")


def _learning_command(func):
    """``func`` with a missing learning dependency (torch, Ray...) reported as the install
    command instead of a traceback: the commands exist as soon as ``synth`` does."""
    @functools.wraps(func)
    def run(args) -> int:
        try:
            return func(args)
        except ModuleNotFoundError as e:
            if (e.name or "").split(".")[0] not in ("torch", "gymnasium", "ray", "tqdm"):
                raise
            raise SplBackendError(f"spiral {args.command} needs {e.name}, which is not "
                                  f"installed: {INSTALL_SYNTH}") from None
    return run


def _passive_openmp() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` (unless the user set it) before torch is first imported:
    idle OpenMP threads then sleep instead of spinning, which on a shared machine made
    synthesis 5-10x slower (bench/bench_synth_threads.py). Only this process's own entry point
    may set it (libraries must not), and only before the lazy ``import torch`` does it work."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def add_commands(sub) -> None:
    """The entry point of the ``spiral_dsl.commands`` group: add the learning commands."""
    p = sub.add_parser("train", help="train the SPIRAL agent (A2C + WGAN-GP)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="a TOML config file, e.g. configs/tiny.toml (default: the defaults of "
                        "synth.config; python -m synth.config lists the keys)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, checked like the file's values")
    p.add_argument("--resume", action="store_true", help="continue the run in out_dir "
                   "(pretraining or RL, wherever it stopped)")
    p.add_argument("--pretrain", type=int, default=None, metavar="UPDATES",
                   help="first pretrain for UPDATES steps (default: the config's pretrain_updates, "
                        "skipped when init_from is set; 0 to skip); with init_from, continue from it")
    p.add_argument("--ray", action="store_true", help="run the workers (rollout and backward pass) as Ray actors")
    p.add_argument("--address", default=None, help="an existing Ray cluster (with --ray)")
    p.add_argument("--workers", type=int, default=None, help="rollout workers (overrides config)")
    p.add_argument("--pbt", action="store_true", help="population-based training on Ray Tune")
    p.add_argument("--population", type=positive_int, default=4)
    p.add_argument("--pbt-interval", type=positive_int, default=5, metavar="UPDATES",
                   help="updates between PBT reports (exploit/explore happens at reports)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_learning_command(cmd_train))

    p = sub.add_parser("synthesize", help="infer programs for images",
                       description="For each image write <name>.spl, <name>.render.png and "
                       "<name>.replay.gif into the output folder. <name> is the image's stem; "
                       "images sharing a stem keep their extension (photo.png.spl, "
                       "photo.jpg.spl) and a number is added when names still clash or an "
                       "output would overwrite an input. An image that fails is reported and "
                       "the others are still done (exit status 1).")
    p.add_argument("images", nargs="+")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--method", default=None, choices=["policy", "greedy", "policy+refine", "beam", "beam+fit", "mcmc"],
                   help="default: the domain's best (paint: beam+fit, scene: policy+refine)")
    p.add_argument("--seconds", type=float, default=None,
                   help="beam+fit: time budget per image (anytime: the fit stops in time)")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--samples", type=positive_int, default=None,
                   help="policy samples per image (default: 16 paint, 1 scenes; beam: per partial program)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--domain", default="paint", choices=["paint", "scene"])
    p.add_argument("--invert", default=None, action=argparse.BooleanOptionalAction,
                   help="invert the image (light ink on dark); default: paint images whose "
                        "border is mostly dark are inverted, scenes never")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch threads for each image's batch of samples (default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_learning_command(cmd_synthesize))

    p = sub.add_parser("sample", help="programs drawn by an unconditional policy")
    p.add_argument("--checkpoint", default=None,
                   help="default: the shipped unconditional digit painter")
    p.add_argument("-n", "--count", type=positive_int, default=16)
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_learning_command(cmd_sample))

    p = sub.add_parser("eval", help="mean MSE (real renders) and seconds per image on a set; "
                       "--domain scene: object recovery of the policy vs MCMC on held-out scenes")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--set", dest="set_name", default="mnist-eval",
                   help="mnist-eval (default), glyphs-dejavu, glyphs-dejavu-scripts, glyphs-train, "
                        "sets joined by '+', an image folder or an IDX file")
    p.add_argument("--method", default=None, choices=["policy", "greedy", "policy+refine", "beam", "beam+fit"],
                   help="paint only (default beam+fit); scenes compare the policy with MCMC")
    p.add_argument("--limit", type=int, default=None,
                   help="images (default 1000) or scenes (default 200), >= 1")
    p.add_argument("--samples", type=int, default=None,
                   help="policy samples per image (default: 16 paint; scenes: 4, beside the "
                        "default method's 1)")
    p.add_argument("--budget", type=int, default=None,
                   help="scenes: renderer calls of the repair (default 300); paint, beam+fit: "
                        "fit steps (default 24)")
    p.add_argument("--domain", default="paint", choices=["paint", "scene"])
    p.add_argument("--refine-seconds", type=float, default=2.0, help="policy+refine: refinement time")
    p.add_argument("--seconds", type=float, default=None,
                   help="beam+fit: time budget per image (anytime: the fit stops in time)")
    p.add_argument("--candidates", type=int, default=None,
                   help="greedy: candidate strokes per step (default: the search's own)")
    p.add_argument("--polish", type=int, default=None,
                   help="greedy: polish rounds (default: the search's own)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the targets are per core)")
    p.add_argument("--mcmc", default=None, metavar="MULTIPLES",
                   help="scenes: MCMC budgets as multiples of the default method's renderer "
                        "calls (default 1,10)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_learning_command(cmd_eval))


def cmd_train(args) -> int:
    _passive_openmp()   # before torch loads; Ray workers and teacher processes set it too
    from .config import load_config, parse_override
    from .train import train
    if args.pbt and args.resume:   # Ray Tune keeps a population's checkpoints in its trial folders
        raise SplRangeError("--resume does not apply to --pbt: a population cannot be resumed; "
                            "start it again (or --resume a single run without --pbt)")
    overrides = list(args.overrides)
    for option, key, value in (("--workers", "workers", args.workers),
                               ("--pretrain", "pretrain_updates", args.pretrain)):
        if value is not None:   # checked here so that an error names the option typed
            parse_override(f"{key}={value}", source=f"{option} {value}")
    if args.workers is not None:
        overrides.append(f"workers={args.workers}")
    if args.resume:
        overrides.append("resume=true")
    if args.pretrain is not None:
        overrides.append(f"pretrain_updates={args.pretrain}")
    config = load_config(args.config, overrides)
    if config.policy.arch == "scene" and (args.ray or args.pbt):
        raise SplRangeError(f"--{'ray' if args.ray else 'pbt'} runs the A2C stage of "
                            "arch='spiral' or 'lean'; arch='scene' trains embedded "
                            "(synth/scene_train.py)")
    if config.run.shards > 1 and (args.ray or args.pbt):
        raise SplRangeError(f"shards={config.run.shards} splits updates over processes of this "
                            f"machine; with --{'ray' if args.ray else 'pbt'} set workers (Ray "
                            "actors) instead and shards=1")
    from . import rundir
    run = config.run
    if run.resume:
        teacher = config.teacher_path() if config.pretrain.pretrain_source == "teacher" else None
        rundir.check_resumable(run.out_dir, teacher)
    if run.domain == "paint":   # before pretraining, which may take hours (scenes draw their own)
        from .data import check_set
        check_set(run.targets)
    with rundir.locked(run.out_dir), rundir.stop_on_sigterm() as terminated:
        out = Path(run.out_dir)
        rl_started = run.resume and (out / "checkpoint.pt").is_file()
        model = out / "model.pt"
        if config.policy.arch == "scene":   # supervised, then RL, on rendered scenes
            from .scene_train import train_scene
            train_scene(config, stop=terminated)
        else:
            # the config's pretraining is skipped when init_from is set; distill_init or an
            # explicit --pretrain continues pretraining from init_from; --resume continues a
            # pretraining the run began (to the step count it was started with, unless
            # --pretrain says otherwise; --pretrain 0 skips it) unless RL has begun
            pretraining = (run.resume and not rl_started and args.pretrain != 0
                           and (out / "pretrain_checkpoint.pt").is_file())
            if pretraining or (config.pretrain.pretrain_updates and not rl_started
                               and (args.pretrain is not None or not run.init_from
                                    or config.pretrain.distill_init)):
                from .pretrain import pretrain
                config = config.replace(init_from=str(pretrain(config)))
            if not terminated():
                model = _train_stage(config, args, train)
        if terminated():
            print(f"stopped by SIGTERM; the run in {run.out_dir} continues with --resume",
                  file=sys.stderr)
            return 128 + terminated.signal
    print(f"model: {model}")
    return 0


def _train_stage(config, args, train) -> Path:
    """RL: embedded, on Ray, or population-based on Ray Tune. Returns the model file: the
    run's ``model.pt``, or for a population the best member's last training checkpoint (which
    ``synthesize``, ``sample`` and ``--checkpoint`` accept like a model file)."""
    if args.pbt:
        from .distributed import best_member, run_pbt
        run_pbt(config, population=args.population, interval=args.pbt_interval,
                address=args.address)
        return best_member(config.run.out_dir)
    if args.ray:
        from .distributed import train_on_ray
        train_on_ray(config, address=args.address)
    else:
        _train_with_progress(train, config, args.quiet)
    return Path(config.run.out_dir) / "model.pt"


def _train_with_progress(train, config, quiet: bool) -> None:
    """``train(config)`` with a bar over its updates on a terminal (it replaces the periodic
    counter lines there); elsewhere the counter lines are the progress, and ``--quiet``
    silences both."""
    if quiet or not sys.stderr.isatty():
        train(config.replace(progress=False) if quiet else config)
        return
    from .progress import progress_bar
    config = config.replace(progress=False)
    bars = []

    def on_update(update, metrics, save):
        if not bars:  # created at the first update, so a resumed run's ETA counts from there
            bars.append(progress_bar(config.rl.updates, "train", "update", initial=update - 1))
        bars[0].update(1)
        bars[0].set_postfix(mse=f"{metrics.get('mse', float('nan')):.4f}",
                            reward=f"{metrics.get('reward', float('nan')):+.4f}", refresh=False)
        return False

    try:
        train(config, callback=on_update)
    finally:
        for bar in bars:
            bar.close()


def output_bases(images, folder) -> list[Path]:
    """One output base per input image (outputs are the base plus :data:`OUTPUT_SUFFIXES`):
    the image's stem in ``folder``; the whole file name when several images share a stem
    (``photo.png``, ``photo.jpg``); then ``-2``, ``-3``... when a base is still taken or one
    of its outputs would be an input file. Outputs never overwrite an input or each other."""
    folder = Path(folder)
    inputs = {Path(name).resolve() for name in images}
    stems: dict[str, int] = {}
    for name in images:
        stems[Path(name).stem] = stems.get(Path(name).stem, 0) + 1
    taken: set[Path] = set()
    bases = []
    for name in images:
        path = Path(name)
        first = path.stem if stems[path.stem] == 1 else path.name
        base, n = folder / first, 1
        while base in taken or any(Path(f"{base}{s}").resolve() in inputs for s in OUTPUT_SUFFIXES):
            n += 1
            base = folder / f"{first}-{n}"
        taken.add(base)
        bases.append(base)
    return bases


def cmd_synthesize(args) -> int:
    import warnings

    _passive_openmp()
    from spiral_dsl.errors import SplError
    from spiral_dsl.io import save_animation, save_image

    from .progress import progress_bar
    from .synthesize import DOMAIN_METHODS, BlankResultWarning, load_policy, synthesize
    if args.method is None:
        args.method = DOMAIN_METHODS[args.domain][0]
    if args.method not in DOMAIN_METHODS[args.domain]:
        raise SplRangeError(f"--method={args.method} is not one of "
                            f"{list(DOMAIN_METHODS[args.domain])} for --domain={args.domain}")
    if args.method != "greedy" and args.method != "mcmc":
        load_policy(args.checkpoint, args.domain)  # a bad checkpoint fails once, up front
    failures = 0
    with progress_bar(len(args.images), "synthesize", "image",
                      quiet=args.quiet or len(args.images) == 1) as bar:
        for name, base in zip(args.images, output_bases(args.images, args.output)):
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", BlankResultWarning)
                    program = synthesize(name, domain=args.domain, method=args.method,
                                         checkpoint=args.checkpoint, samples=args.samples,
                                         seed=args.seed, invert=args.invert,
                                         seconds=args.seconds, threads=args.threads)
                for w in caught:
                    bar.write(f"{name}: warning: {w.message}", file=sys.stderr)
                spl, png, gif = (Path(f"{base}{s}") for s in OUTPUT_SUFFIXES)
                program.save(spl)
                save_image(program.render(), png)
                save_animation([program[:0].render()] + list(program.frames()), gif)
            except SplError as e:
                failures += 1
                bar.write(f"{name}: {e}", file=sys.stderr)
            else:
                bar.write(f"{name}: mse {program.metadata['mse']} in "
                          f"{program.metadata['seconds']}s -> {spl} (+ {png.name}, {gif.name})",
                          file=sys.stdout)
            bar.update(1)
    if failures:
        print(f"{failures} of {len(args.images)} images failed", file=sys.stderr)
    return 1 if failures else 0


def cmd_sample(args) -> int:
    _passive_openmp()
    import numpy as np

    from spiral_dsl.io import save_image

    from .synthesize import sample
    programs = sample(args.count, seed=args.seed, checkpoint=args.checkpoint)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for k, program in enumerate(programs):
        program.save(out / f"sample{k:02d}.spl")
        images.append(program.render())
    cols = int(np.ceil(np.sqrt(len(images))))
    images += [np.ones_like(images[0])] * (cols * cols - len(images))
    rows = [np.concatenate(images[r * cols:(r + 1) * cols], 1) for r in range(cols)]
    save_image(np.concatenate([r for r in rows if r.size], 0), out / "samples.png")
    print(f"{len(programs)} programs and samples.png (libmypaint renders) in {out}")
    return 0


def _at_least(flag: str, value, least: int = 1) -> None:
    if value is not None and value < least:
        raise SplRangeError(f"{flag}={value} must be >= {least}")


def cmd_eval(args) -> int:
    """Print (and with ``--json`` write) the figures of :mod:`synth.evaluate`."""
    import json

    _passive_openmp()
    from spiral_dsl.io import write_atomic

    from . import evaluate as ev
    _at_least("--threads", args.threads)
    _at_least("--limit", args.limit)
    _at_least("--samples", args.samples)
    _at_least("--budget", args.budget)
    if args.domain == "scene":
        for flag, value in (("--method", args.method), ("--candidates", args.candidates),
                            ("--polish", args.polish), ("--seconds", args.seconds)):
            if value is not None:
                raise SplRangeError(f"{flag} does not apply to --domain scene: it compares the "
                                    "scene policy with MCMC (set the budgets with --mcmc)")
        result = _eval_scenes(args, ev)
    else:
        if args.mcmc is not None:
            raise SplRangeError("--mcmc applies to --domain scene only")
        method = args.method or ev.PAINT_METHODS[0]
        if method != "greedy" and (args.candidates is not None or args.polish is not None):
            raise SplRangeError(f"--candidates and --polish set greedy search, not --method {method}")
        _at_least("--candidates", args.candidates)
        _at_least("--polish", args.polish, 0)
        if not args.refine_seconds > 0:
            raise SplRangeError(f"--refine-seconds={args.refine_seconds} must be > 0")
        result = ev.evaluate_paint(args.set_name, limit=args.limit or ev.DEFAULT_IMAGES,
                                   method=method, checkpoint=args.checkpoint,
                                   samples=args.samples, refine_seconds=args.refine_seconds,
                                   candidates=args.candidates, polish=args.polish,
                                   seconds=args.seconds, budget=args.budget,
                                   threads=args.threads, quiet=args.quiet)
        print(json.dumps(result, indent=1))
    if args.json:
        write_atomic(args.json, json.dumps(result, indent=1) + "\n")
    return 0


def _eval_scenes(args, ev) -> dict:
    """The policy (samples 1 and ``--samples``) vs blocked MH at multiples of its renderer
    calls, as a table on stdout."""
    mcmc = "1,10" if args.mcmc is None else args.mcmc
    parts = [m.strip() for m in mcmc.split(",") if m.strip()]
    if not parts or not all(m.isdigit() and int(m) >= 1 for m in parts):
        raise SplRangeError(f"--mcmc={mcmc!r}: expected comma-separated integers >= 1, e.g. 1,100")
    result = ev.evaluate_scenes(checkpoint=args.checkpoint, count=args.limit or ev.DEFAULT_SCENES,
                                samples=args.samples or 4, budget=args.budget or 300,
                                mcmc_multiples=[int(m) for m in parts],
                                threads=args.threads, quiet=args.quiet)
    print(f"{'method':<27} {'exact':>7} {'cell±1':>7} {'extra/scene':>11} {'MSE':>8} {'calls':>7} {'s/scene':>8}")
    for r in result["rows"]:
        print(f"{r['method']:<27} {r['exact_fraction']:7.3f} {r['near_fraction']:7.3f} {r['extra_per_scene']:11.2f} "
              f"{r['mean_mse']:8.5f} {r['mean_renderer_calls']:7.0f} {r['seconds_per_scene']:8.3f}")
    return result
