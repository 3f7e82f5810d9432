"""The training loop's throughput and where its time goes, SPIRAL's network vs the lean one;
``train()`` end to end; ``synthesize`` latency; and embedded vs Ray.

    python bench/bench_train.py [--batch 256] [--updates 1] [--threads 1 2]   # the breakdown
    python bench/bench_train.py --train [ROW ...] [--train-updates 3]          # end to end
    python bench/bench_train.py --synthesize [NAME=CHECKPOINT ...] [--images 20]
    python bench/bench_train.py --ray-only                                     # embedded vs Ray

**Breakdown** (bench/results/bench_train_loop.json): ``configs/mnist.toml`` (episode_length 20:
19 actions per episode, raster interpreter, A2C with the -MSE reward), ``batch`` episodes per
update, ``arch = "spiral"`` and ``"lean"`` with the same seed, at each thread count. One update
of each architecture is a warm-up, then ``--updates`` timed updates alternate between the two
(A B A B, so both see the same machine load). An update here is the loop as issue 17 found
it: weights to a worker copy, a rollout, the -MSE reward, the learner's A2C step re-running
the policy over the rollout. Its time is split into *env* (``env.step``: rendering and
bookkeeping), *rollout policy* (the rest of the rollout: the policy's forward passes and
sampling), *learner forward* (``PolicyLearner.evaluate``, the re-evaluation), *learner
backward* (the rest of the update: losses, backward, clipping, Adam) and *weights*. The
WGAN-GP *critic* step (``d_batch = 64``; the MNIST config's reward does not use it) is timed
separately and reported as ``frames_per_s_with_critic`` as if ``reward = "discriminator"``.

**End to end** (``--train``; bench/results/bench_train_end_to_end.json): ``train()`` itself on
``configs/mnist.toml`` (no pretraining, no value warm-up), ``--train-updates`` timed updates
after one warm-up, for each row of :data:`TRAIN_ROWS`: the loop as issue 17 found it (SPIRAL's
network, the learner re-evaluating every rollout; today's code otherwise) at 1 and 2 threads,
the lean network with the single-forward update at 1 and 2 threads, and the lean network on 2
shards (two processes of one thread, :mod:`synth.gradients`), in float32 and with bfloat16
arithmetic (``precision = "bfloat16"``). Rows run one after the other on a machine left quiet.

**Synthesize** (``--synthesize``; bench/results/bench_synthesize.json): seconds per
``synthesize(image)`` (16 policy samples, one thread, tidy included) over ``--images``
evaluation digits, rows alternating image by image, all with ``method="policy"``: SPIRAL's
network (``mnist.pt``, the shipped default when issue 17 was filed) with all 16 candidates
rendered by libmypaint (as then; today's code otherwise), the same with today's 4, and each
named checkpoint (e.g. ``lean=synth/checkpoints/mnist_lean.pt``).

``--filed-tree DIR`` (with ``--train`` or ``--synthesize``) adds rows of the code itself as the
issue was filed, from a git worktree of that commit (:mod:`filed_code`; issue 17: ``git worktree
add /tmp/filed 05143fa``): its own ``train()`` at 1 and 2 threads, its own ``synthesize``
(alternating image by image with the rest). Those are the "today" the issue's ratios mean.

**Ray** (``--ray`` or ``--ray-only``; bench/results/bench_train.json): frames/s embedded
(2 threads) vs Ray with 1 and 2 gradient-worker actors at batch 16 episodes per worker,
``ray1_over_embedded`` (target >= 1/1.2).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import write_result

from synth.config import load_config
from synth.roles import DiscriminatorLearner, PolicyLearner, ReplayBuffer, RolloutWorker
from synth.train import LocalWorkers, final_reward, load_targets, train

PARTS = ("env", "rollout_policy", "learner_forward", "learner_backward", "weights")


class Timed:
    """Accumulates the seconds spent in a wrapped method (instance attribute override)."""

    def __init__(self, obj, name: str):
        self.seconds = 0.0
        inner = getattr(obj, name)

        @functools.wraps(inner)
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                self.seconds += time.perf_counter() - t
        setattr(obj, name, wrapper)


class Loop:
    """One architecture's worker, learner and critic, as the embedded loop wires them."""

    def __init__(self, arch: str, batch: int, threads: int, targets: np.ndarray):
        self.config = config = load_config("configs/mnist.toml", [
            f"arch={arch}", f"batch={batch}", f"threads={threads}", "device=cpu", "seed=0"])
        spec, rl = config.spec(), config.rl
        torch.manual_seed(0)
        self.worker = RolloutWorker(spec, config.policy, batch, config.run.episode_length, targets,
                                    "raster", seed=1)
        self.learner = PolicyLearner(spec, config.policy, rl.policy_lr, rl.entropy_coef,
                                     rl.value_coef, rl.discount)
        self.critic = DiscriminatorLearner(config.run.canvas, True, config.critic.d_lr,
                                           channels=config.policy.channels)
        self.replay = ReplayBuffer(config.critic.replay_batches, seed=0)
        self.env_timer = Timed(self.worker.env, "step")
        self.forward_timer = Timed(self.learner, "evaluate")
        self.rows: list[dict] = []

    def update(self) -> dict:
        self.env_timer.seconds = self.forward_timer.seconds = 0.0
        t0 = time.perf_counter()
        self.worker.set_weights(self.learner.get_weights(), self.learner.version)
        t1 = time.perf_counter()
        traj = self.worker.rollout()
        t2 = time.perf_counter()
        reward = final_reward(self.config.rl, traj, self.critic)
        self.learner.update(traj, reward)
        t3 = time.perf_counter()
        self.replay.add(traj.targets, traj.canvases[-1])
        real, fake = self.replay.sample(self.config.critic.d_batch)
        self.critic.update(real, fake, real)
        t4 = time.perf_counter()
        env, fwd = self.env_timer.seconds, self.forward_timer.seconds
        return {"weights": t1 - t0, "env": env, "rollout_policy": t2 - t1 - env,
                "learner_forward": fwd, "learner_backward": t3 - t2 - fwd, "critic": t4 - t3}

    def summary(self) -> dict:
        run = self.config.run
        frames = self.config.rl.batch * (run.episode_length - 1)
        mean = {k: sum(r[k] for r in self.rows) / len(self.rows) for k in self.rows[0]}
        loop = sum(mean[k] for k in PARTS)
        return {"frames_per_update": frames, "updates_timed": len(self.rows),
                "seconds_per_update": round(loop, 3),
                "frames_per_s": round(frames / loop, 1),
                "frames_per_s_with_critic": round(frames / (loop + mean["critic"]), 1),
                "share": {k: round(mean[k] / loop, 4) for k in PARTS},
                "seconds": {k: round(v, 3) for k, v in mean.items()}}


def bench_loop(batch: int, updates: int, thread_counts: list[int]) -> dict:
    targets = load_targets(load_config("configs/mnist.toml"))
    before = torch.get_num_threads()
    out = {}
    try:
        for threads in thread_counts:
            torch.set_num_threads(threads)
            loops = {arch: Loop(arch, batch, threads, targets) for arch in ("spiral", "lean")}
            for loop in loops.values():
                loop.update()                                   # warm-up, not timed
            for _ in range(updates):
                for loop in loops.values():
                    loop.rows.append(loop.update())
            for arch, loop in loops.items():
                out[f"{arch}_{threads}_thread"] = loop.summary()
                print(arch, threads, out[f"{arch}_{threads}_thread"], flush=True)
            out[f"lean_over_spiral_{threads}_thread"] = round(
                out[f"lean_{threads}_thread"]["frames_per_s"] / out[f"spiral_{threads}_thread"]["frames_per_s"], 2)
    finally:
        torch.set_num_threads(before)
    return out


FILED = "filed code (its own synthesize and checkpoint)"
SHIPPED_VERIFY_16 = "shipped, verify 16 (today's code)"
FILED_CHILD = str(Path(__file__).with_name("filed_code.py"))


class _FiledSynthesize:
    """``filed_code.py DIR synthesize``: the filed commit's synthesize, one digit per call."""

    def __init__(self, tree: str, images: int):
        self.proc = subprocess.Popen([sys.executable, FILED_CHILD, tree, "synthesize", str(images)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "OMP_NUM_THREADS": "1"})
        self._read()                                                  # the child's warm-up

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{FILED_CHILD} exited ({self.proc.wait()}); see its stderr above")
        return json.loads(line)

    def __call__(self, k: int) -> tuple[float, float]:
        self.proc.stdin.write(f"{k}\n")
        self.proc.stdin.flush()
        reply = self._read()
        return reply["seconds"], reply["mse"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def bench_synthesize(images: int, checkpoints: dict[str, str | None], rounds: int = 2,
                     filed_tree: str | None = None) -> dict:
    """``synthesize(image)`` (16 policy samples, one thread, tidy included) per checkpoint over
    ``images`` evaluation digits, the rows alternating image by image (same load): median
    seconds and mean MSE (real libmypaint). ``verify 16`` reruns the shipped checkpoint as
    ``synthesize`` was when issue 17 was filed: every one of the 16 candidates rendered by
    libmypaint (``VERIFY = 16``). ``filed_tree``: also the filed commit's own synthesize (a
    worktree; :mod:`filed_code`), in a child process, alternating image by image with the rest."""
    from synth import synthesize as synth_module
    from synth.data import load_set
    from synth.evaluate import spread
    digits = load_set("mnist-eval", size=64)[0]
    digits = digits[spread(len(digits), images)]
    # every row is the "policy" method (16 samples), whatever synthesize's default; a row
    # without a checkpoint is SPIRAL's network (mnist.pt), the shipped default when issue 17
    # was filed
    spiral_net = str(synth_module.default_checkpoint().with_name("mnist.pt"))
    rows = {SHIPPED_VERIFY_16: (spiral_net, 16), **{name: (path or spiral_net, synth_module.VERIFY)
                                                    for name, path in checkpoints.items()}}
    seconds = {name: [] for name in rows}
    errors = {name: [] for name in rows}
    filed = _FiledSynthesize(filed_tree, images) if filed_tree else None
    if filed:
        seconds[FILED], errors[FILED] = [], []
    default_verify = synth_module.VERIFY
    try:
        for path, verify in rows.values():                         # warm-up: load, first batch
            synth_module.VERIFY = verify
            synth_module.synthesize(digits[0], method="policy", invert=False, checkpoint=path)
        for _ in range(rounds):
            for k, image in enumerate(digits):
                if filed:
                    took, error = filed(k)
                    seconds[FILED].append(took)
                    errors[FILED].append(error)
                for name, (path, verify) in rows.items():
                    synth_module.VERIFY = verify
                    t = time.perf_counter()
                    program = synth_module.synthesize(image, method="policy", invert=False, seed=k,
                                                      checkpoint=path)
                    seconds[name].append(time.perf_counter() - t)
                    errors[name].append(float(program.metadata["mse"]))
    finally:
        synth_module.VERIFY = default_verify
        if filed:
            filed.close()
    out = {name: {"seconds_median": round(float(np.median(seconds[name])), 4),
                  "mse_mean": round(float(np.mean(errors[name][:len(digits)])), 5),
                  "checkpoint": path, "verify": verify}
           for name, (path, verify) in rows.items()}
    if filed:
        out[FILED] = {"seconds_median": round(float(np.median(seconds[FILED])), 4),
                      "mse_mean": round(float(np.mean(errors[FILED][:len(digits)])), 5),
                      "checkpoint": "synth/checkpoints/mnist.pt", "tree": filed_tree}
        for row in out.values():
            row["speedup_over_filed"] = round(out[FILED]["seconds_median"] / row["seconds_median"], 2)
    today = out[SHIPPED_VERIFY_16]["seconds_median"]
    for row in out.values():
        row["speedup_over_verify_16"] = round(today / row["seconds_median"], 2)
    return {"images": len(digits), "rounds": rounds, "rows": out,
            "note": "synthesize(image, invert=False, seed=k): 16 samples, one thread, tidy "
                    "included; rows alternate image by image; mse: the first round's"}


def measure_train(config, workers_factory) -> dict:
    timings = []

    def clock(update, metrics, save):
        timings.append(time.perf_counter())
        return False

    workers = workers_factory()
    try:
        train(config, workers=workers, callback=clock)
    finally:
        workers.close()
    span = timings[-1] - timings[0]           # the first update is the warm-up
    updates = len(timings) - 1
    run = config.run
    frames = updates * run.workers * config.rl.batch * (run.episode_length - 1)
    return {"workers": run.workers, "frames_per_s": round(frames / span, 1),
            "updates_per_s": round(updates / span, 3)}


#: The end-to-end rows (``--train``): name → (config overrides, workers). The spiral rows are
#: the issue's loop (SPIRAL's network, the learner scoring every rollout again) on today's code.
TRAIN_ROWS = {
    "spiral_1_thread_re_evaluated (today's code)": (["arch=spiral", "threads=1"], "re-evaluate"),
    "spiral_2_threads_re_evaluated (today's code)": (["arch=spiral", "threads=2"], "re-evaluate"),
    "lean_1_thread": (["arch=lean", "threads=1"], "default"),
    "lean_2_threads": (["arch=lean", "threads=2"], "default"),
    "lean_2_shards": (["arch=lean", "threads=1", "shards=2"], "default"),
    "lean_2_shards_bfloat16": (["arch=lean", "threads=1", "shards=2", "precision=bfloat16"], "default"),
}


def bench_train_end_to_end(batch: int, updates: int, rows: list[str], filed_tree: str | None = None) -> dict:
    """``train()`` itself on configs/mnist.toml (A2C, -MSE, no pretraining), ``updates`` timed
    updates after one warm-up: env frames/s as a run sees them. ``filed_tree``: first the
    filed commit's own ``train()`` at 1 and 2 threads (a worktree; :mod:`filed_code`)."""
    from synth.train import default_workers
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for threads in (1, 2) if filed_tree else ():
            name = f"filed code, {threads} thread{'s' * (threads > 1)}"
            reply = subprocess.run([sys.executable, FILED_CHILD, filed_tree, "train", str(threads),
                                    str(batch), str(updates), f"{d}/filed{threads}"],
                                   stdout=subprocess.PIPE, text=True, check=True)
            out[name] = {**json.loads(reply.stdout.strip().splitlines()[-1]), "tree": filed_tree}
            print(name, out[name], flush=True)
        for name in rows:
            overrides, kind = TRAIN_ROWS[name]
            config = load_config("configs/mnist.toml", [
                f"batch={batch}", f"updates={updates + 1}", "device=cpu", "seed=0", "progress=false",
                "checkpoint_every=100000", "pretrain_updates=0", "value_warmup=0",
                f"out_dir={d}/{len(out)}", *overrides])
            targets = load_targets(config)
            if kind == "re-evaluate":
                factory = functools.partial(LocalWorkers, config, config.spec(), targets, single_forward=False)
            else:
                factory = functools.partial(default_workers, config, config.spec(), targets)
            before = torch.get_num_threads()
            try:
                out[name] = {**measure_train(config, factory), "overrides": overrides}
            finally:
                torch.set_num_threads(before)
            print(name, out[name], flush=True)
    today = [v["frames_per_s"] for k, v in out.items() if "today's code" in k]
    if today:
        for v in out.values():
            v["over_spiral_rows_best"] = round(v["frames_per_s"] / max(today), 2)
    filed = [v["frames_per_s"] for k, v in out.items() if k.startswith("filed code")]
    if filed:
        for v in out.values():
            v["over_filed_best"] = round(v["frames_per_s"] / max(filed), 2)
    return out


def bench_ray(updates: int = 6, batch: int = 16) -> None:
    base = ["episode_length=20", f"batch={batch}", f"updates={updates + 1}", "progress=false",
            "checkpoint_every=1000", "targets=mnist-eval", "channels=32", "hidden=256", "threads=2"]
    results = {}
    with tempfile.TemporaryDirectory() as d:
        embedded = load_config(None, base + [f"out_dir={d}/embedded"])
        results["embedded"] = measure_train(embedded, lambda: LocalWorkers(embedded, embedded.spec(), load_targets(embedded)))
        from synth.distributed import RayWorkers, init_ray
        ray = init_ray(num_cpus=2)
        for n in (1, 2):
            a = load_config(None, base + [f"out_dir={d}/ray{n}", f"workers={n}"])
            results[f"ray_{n}"] = measure_train(a, lambda a=a: RayWorkers(a, a.spec(), load_targets(a)))
        ray.shutdown()
    ratio = results["ray_1"]["frames_per_s"] / results["embedded"]["frames_per_s"]
    write_result("bench_train", {"benchmark": "train", "config": base, "cores": 2, **results,
                                 "ray1_over_embedded": round(ratio, 3), "target_ray1_over_embedded": round(1 / 1.2, 3),
                                 "note": "gradient workers (rollout + backward of their episodes; synth.gradients); the driver computes rewards, averages gradients and steps (2 threads); a Ray worker gets threads // workers torch threads, with OMP_WAIT_POLICY=PASSIVE"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256, help="episodes per update (mnist.toml: 256)")
    ap.add_argument("--updates", type=int, default=1, help="timed updates per architecture")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--images", type=int, default=4, help="digits for the synthesize latency")
    ap.add_argument("--ray", action="store_true", help="also embedded vs Ray (bench_train.json)")
    ap.add_argument("--ray-only", action="store_true", help="only embedded vs Ray")
    ap.add_argument("--train", nargs="*", default=None, metavar="ROW",
                    help=f"only the end-to-end train() rows (all when none named: {list(TRAIN_ROWS)}) "
                         "-> bench_train_end_to_end.json")
    ap.add_argument("--train-updates", type=int, default=3, help="timed updates per end-to-end row")
    ap.add_argument("--synthesize", nargs="*", default=None, metavar="NAME=CHECKPOINT",
                    help="only synthesize latency: the shipped checkpoint verifying all 16, now, and each "
                         "NAME=CHECKPOINT -> bench_synthesize.json")
    ap.add_argument("--filed-tree", default=None, metavar="DIR",
                    help="with --train or --synthesize: also rows of the code as filed, from this "
                         "git worktree of the issue's commit (bench/filed_code.py)")
    args = ap.parse_args()
    if args.ray_only:
        bench_ray()
        return
    if args.train is not None:
        rows = args.train or list(TRAIN_ROWS)
        unknown = [r for r in rows if r not in TRAIN_ROWS]
        if unknown:
            ap.error(f"unknown rows {unknown}; choose from {list(TRAIN_ROWS)}")
        result = {"benchmark": "train() end to end", "config": "configs/mnist.toml", "batch": args.batch,
                  "episode_length": 20, "cores": 2, "updates_timed": args.train_updates,
                  **bench_train_end_to_end(args.batch, args.train_updates, rows, args.filed_tree)}
        write_result("bench_train_end_to_end", result)
        return
    if args.synthesize is not None:
        named = dict(item.split("=", 1) for item in args.synthesize) if args.synthesize else {}
        write_result("bench_synthesize", {"benchmark": "synthesize latency", **bench_synthesize(
            args.images, {"mnist.pt (SPIRAL's network)": None, **named}, filed_tree=args.filed_tree)})
        return
    t0 = time.perf_counter()
    result = {"benchmark": "training loop", "config": "configs/mnist.toml", "batch": args.batch,
              "episode_length": 20, "cores": 2}
    result.update(bench_loop(args.batch, args.updates, args.threads))
    result["synthesize"] = bench_synthesize(args.images, {"mnist.pt (SPIRAL's network)": None})
    result["bench_seconds"] = round(time.perf_counter() - t0, 1)
    write_result("bench_train_loop", result)
    if args.ray:
        bench_ray()


if __name__ == "__main__":
    main()
