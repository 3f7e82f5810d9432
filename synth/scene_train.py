"""Training the scene policy (``arch = "scene"``): supervised, on renders of random scenes.

    spiral train --config configs/scenes.toml            # what ships as synth/checkpoints/scenes.pt
    spiral train --config configs/scenes.toml --resume   # continue a stopped run

Read top to bottom:

1. ``pretrain_scenes`` random scenes (seed ``seed``; held-out scenes use seeds >= 10,000) are
   rendered once by real MuJoCo, each with two partial canvases (:mod:`synth.scene_data`);
   a validation set of 1,000 scenes (fewer for a smaller run) comes from seed ``seed + 1``.
2. Each step draws ``pretrain_batch`` examples and minimises :meth:`ScenePolicy.loss`: the
   set loss over the next cell (or stop) and the cross-entropies of every remaining object's
   shape, size and colour levels. Adam at ``pretrain_lr`` with a cosine decay to zero over
   ``pretrain_updates`` steps (the last steps at a small rate are what take the per-slot
   accuracies from about 95% to 99%).
3. Every ``log_every`` steps the validation accuracies are logged to
   ``<out_dir>/metrics.jsonl``; every ``checkpoint_every`` steps, on SIGTERM and at the end the
   state is saved atomically (``scene_checkpoint.pt``, resumable) with the model file
   (``model.pt``, weights only, what ``synthesize`` loads).

4. When ``updates`` (the RL stage's) is above 0 and the supervised stage is complete, the
   policy is fine-tuned by a self-critical policy gradient on real MuJoCo renders
   (:mod:`synth.scene_rl`: ``batch`` scenes per update, ``policy_lr``, ``reward_scale``,
   ``entropy_coef``); its lines in ``metrics.jsonl`` carry ``"stage": "rl"``.

``pretrain_seconds`` (when > 0) ends the supervised stage early, and then the run, with its
model saved; the schedule stays the one of ``pretrain_updates``, so a run cut short is not the
run the config describes. ``max_seconds`` bounds the RL stage the same way.
"""
from __future__ import annotations

import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from spiral_dsl.errors import SplTypeError
from spiral_dsl.io import write_atomic

from . import checkpoint as ckpt
from . import rundir
from .config import TrainConfig
from .mcmc import SceneRenderer
from .pretrain import _python_rng
from .scene_data import scene_examples
from .scene_net import ScenePolicy
from .scene_rl import rl_update as rl_update_step
from .scene_rl import training_targets

__all__ = ["train_scene", "VALIDATION_SCENES"]

VALIDATION_SCENES = 1000


def train_scene(config: TrainConfig, stop=None) -> Path:
    """Run (or with ``run.resume``, continue) the scene policy's training; return the model
    file's path. ``stop()`` may return True to end early with everything saved."""
    if config.policy.arch != "scene":
        raise SplTypeError(f"train_scene trains arch='scene', not {config.policy.arch!r}")
    with rundir.running(config, stop) as stop_:
        return _train_scene(config, stop_)


def _train_scene(config: TrainConfig, stop) -> Path:
    run, pre = config.run, config.pretrain
    torch.manual_seed(run.seed)
    spec = config.spec()
    out = Path(run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state_path, model_path = out / "scene_checkpoint.pt", out / "model.pt"
    state = ckpt.load(state_path) if run.resume and state_path.is_file() else None
    write_atomic(out / "args.json", json.dumps(config.flat(), indent=1).encode())

    policy = ScenePolicy(spec, config.policy)
    opt = torch.optim.Adam(policy.parameters(), lr=pre.pretrain_lr)
    updates, batch = pre.pretrain_updates, pre.pretrain_batch or config.rl.batch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, updates) / max(updates, 1))))
    rng = np.random.default_rng(run.seed)
    start, elapsed = 0, 0.0
    if state is not None:
        ckpt.validate_record(state["model"], state_path)
        policy.load_state_dict(state["model"]["weights"])
        opt.load_state_dict(state["opt"])
        schedule.load_state_dict(state["schedule"])
        start, elapsed = state["update"], state["elapsed"]
        torch.set_rng_state(state["torch_rng"])
        rng.bit_generator.state = json.loads(state["numpy_rng"])
        print(f"resumed {state_path} at step {start}", file=sys.stderr)

    rl_cfg = config.rl
    rl_opt = torch.optim.Adam(policy.parameters(), lr=rl_cfg.policy_lr)
    rl_rng, rl_gen = random.Random(run.seed + 2), torch.Generator().manual_seed(run.seed + 2)
    rl_start = 0
    if state is not None and "rl_update" in state:
        rl_start = state["rl_update"]
        rl_opt.load_state_dict(state["rl_opt"])
        rl_rng.setstate(_python_rng(state["rl_python_rng"]))
        rl_gen.set_state(state["rl_gen_rng"])
    log = rundir.open_log(out / "metrics.jsonl", start + rl_start if state is not None else None)
    t0 = time.perf_counter() - elapsed

    def save(update: int, rl_update: int) -> None:
        record = ckpt.model_record(policy, run=run.name, update=update, rl_update=rl_update,
                                   seconds=round(time.perf_counter() - t0, 1))
        ckpt.save_atomic({"model": record, "opt": opt.state_dict(),
                          "schedule": schedule.state_dict(), "update": update,
                          "elapsed": time.perf_counter() - t0, "torch_rng": torch.get_rng_state(),
                          "numpy_rng": json.dumps(rng.bit_generator.state),
                          "rl_update": rl_update, "rl_opt": rl_opt.state_dict(),
                          "rl_python_rng": rl_rng.getstate(), "rl_gen_rng": rl_gen.get_state()},
                         state_path)
        ckpt.save_atomic(record, model_path)

    def write(record: dict, line: str) -> None:
        log.write(json.dumps(record) + "\n")
        log.flush()
        if run.progress:
            print(line, file=sys.stderr)

    update, rl_update, stopped = start, rl_start, False
    try:
        if start < updates:   # 1. supervised, on scenes rendered once
            t_data = time.perf_counter()
            data = scene_examples(spec, pre.pretrain_scenes, run.seed, progress=_progress(run))
            valid = scene_examples(spec, min(VALIDATION_SCENES, pre.pretrain_scenes), run.seed + 1)
            if run.progress:
                print(f"\n{len(data)} examples rendered in {time.perf_counter() - t_data:.0f} s",
                      file=sys.stderr)
        for update in range(start + 1, updates + 1):
            policy.train()
            target, canvas, remaining = data.batch(rng.integers(0, len(data), batch))
            loss, metrics = policy.loss(target, canvas, remaining)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 10.0)
            opt.step()
            schedule.step()
            seconds = time.perf_counter() - t0
            if update % run.log_every == 0 or update == updates:
                record = {"update": update, "seconds": round(seconds, 1), "loss": loss.item(),
                          "lr": schedule.get_last_lr()[0],
                          **{f"train_{k}": round(v, 4) for k, v in metrics.items()},
                          **{f"valid_{k}": round(v, 4) for k, v in validate(policy, valid).items()}}
                write(record, f"[scene {update}/{updates}] loss {loss.item():.3f} valid cell "
                              f"{record['valid_cell_acc']:.3f} object "
                              f"{record['valid_object_acc']:.3f} {seconds:.0f}s")
            if update % run.checkpoint_every == 0:
                save(update, rl_update)
            if (pre.pretrain_seconds and seconds > pre.pretrain_seconds) or stop():
                stopped = True
                break
        if not stopped and update >= updates and rl_start < rl_cfg.updates:
            # 2. policy gradient on real MuJoCo renders (synth.scene_rl)
            render = SceneRenderer(spec)
            for rl_update in range(rl_start + 1, rl_cfg.updates + 1):
                targets = training_targets(spec, rl_cfg.batch, rl_rng, render)
                metrics = rl_update_step(policy, rl_opt, targets, render, rl_gen,
                                         rl_cfg.reward_scale, rl_cfg.entropy_coef)
                seconds = time.perf_counter() - t0
                if rl_update % run.log_every == 0 or rl_update == rl_cfg.updates:
                    write({"update": updates + rl_update, "stage": "rl", "rl_update": rl_update,
                           "seconds": round(seconds, 1), **{k: round(v, 6) for k, v in metrics.items()}},
                          f"[scene rl {rl_update}/{rl_cfg.updates}] greedy mse "
                          f"{metrics['greedy_mse']:.5f} exact {metrics['greedy_exact']:.2f} {seconds:.0f}s")
                if rl_update % run.checkpoint_every == 0:
                    save(update, rl_update)
                if (run.max_seconds and seconds > run.max_seconds) or stop():
                    break
    finally:  # Ctrl-C, SIGTERM or the end: keep what was learned, resumable
        try:
            save(update, rl_update)
        finally:
            log.close()
    return model_path


def _progress(run):
    def progress(done, total):
        if run.progress:
            print(f"\rrendering training scenes {done}/{total}", end="", file=sys.stderr)
    return progress


@torch.no_grad()
def validate(policy: ScenePolicy, valid, batch: int = 500) -> dict[str, float]:
    """Mean :meth:`ScenePolicy.loss` metrics over every example of ``valid`` (weighted by
    examples; attribute accuracies are over the remaining objects of each batch)."""
    policy.eval()
    sums: dict[str, float] = {}
    for lo in range(0, len(valid), batch):
        index = np.arange(lo, min(lo + batch, len(valid)))
        _, metrics = policy.loss(*valid.batch(index))
        for k, v in metrics.items():
            sums[k] = sums.get(k, 0.0) + v * len(index)
    return {k: v / len(valid) for k, v in sums.items()}
