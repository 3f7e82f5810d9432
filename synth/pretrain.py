"""Supervised pretraining of the SPIRAL policy on random programs (behaviour cloning).

    spiral pretrain --config configs/mnist.toml [--set pretrain_updates=...]

Each batch: draw random core programs from the DSL's own generator
(:mod:`spiral_dsl.generate`, ``pen`` style), render every prefix with the batched raster
interpreter (the canvas before each action), use the final canvas as the target, and minimise
the per-slot cross-entropy of the taken actions under teacher forcing (each slot sees the true
values of the slots before it; slots a statement does not use are masked). RL then starts from
these weights (``init_from``).

With ``pretrain_source = "teacher"`` the programs are instead greedy-search programs for the
training targets (:mod:`synth.teacher`, built on first use) and the target is the real image:
the policy is distilled from the search it must later beat. The canvases before each teacher
action are rendered once, before the first step, and kept as uint8 (:func:`teacher_prefixes`;
up to :data:`PREFIX_CACHE_BYTES`, else each batch is rendered again): rendering was a third of
a distillation step on the CPU.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spiral_dsl.generate import random_actions

from . import checkpoint as ckpt
from . import rundir
from .batch_env import BatchEnv
from .config import TrainConfig
from .errors import DataError
from .nets import Policy
from .rollout import quantise, render_prefixes, teacher_forced_steps, to_uint8

__all__ = ["make_batch", "make_teacher_batch", "teacher_prefixes", "teacher_drawings",
           "pretrain_loss", "pretrain"]

PREFIX_CACHE_BYTES = 4 << 30
"""The most memory :func:`teacher_prefixes` may take (9,000 MNIST teacher programs of 19
actions at 64² take 2.1 GB); a larger teacher set is rendered batch by batch instead."""


def _rows_as_actions(spec, rows: torch.Tensor) -> dict:
    return {s: rows[:, :, k].T.contiguous() for k, s in enumerate(spec.order)}


def teacher_prefixes(spec, env: BatchEnv, teacher: torch.Tensor,
                     limit_bytes: int = PREFIX_CACHE_BYTES) -> torch.Tensor | None:
    """The canvas before each action of every teacher program, rendered on ``env`` (the raster
    interpreter the policy trains on), quantised: uint8 (N, T, 3, H, W) on the CPU, for
    ``teacher`` (N, T, slots) long. ``None`` when that would take more than ``limit_bytes``
    (checked before anything is allocated)."""
    n, steps, _ = teacher.shape
    size = env.size
    if n * steps * 3 * size * size > limit_bytes:
        return None
    out = torch.empty((n, steps, 3, size, size), dtype=torch.uint8)
    for start in range(0, n, env.batch):
        index = torch.arange(start, start + env.batch) % n   # the last batch wraps round to fill the env
        canvases = render_prefixes(env, _rows_as_actions(spec, teacher[index.to(teacher.device)]))
        count = min(env.batch, n - start)
        out[start:start + count] = to_uint8(canvases[:steps, :count]).transpose(0, 1).cpu()
    return out


def make_teacher_batch(spec, env: BatchEnv, teacher: torch.Tensor, targets: torch.Tensor,
                       index: torch.Tensor, prefixes: torch.Tensor | None = None):
    """Teacher programs as data: canvases (T, B, 3, H, W) uint8 (the canvas before each
    action), actions slot → (T, B) and the real targets (B, 3, H, W) of rows ``index`` of
    ``teacher`` (N, T, slots) long; the canvases come from ``prefixes`` (made by
    :func:`teacher_prefixes` for this teacher) when given, else they are rendered on ``env``."""
    actions = _rows_as_actions(spec, teacher[index])
    if prefixes is None:
        canvases = to_uint8(render_prefixes(env, actions)[:-1])
    else:
        canvases = prefixes[index.cpu()].transpose(0, 1).to(teacher.device)
    return canvases, actions, targets[index]


def make_batch(spec, env: BatchEnv, rng: random.Random, style: str = "pen"):
    """Random programs as teacher data: canvases (T+1, B, 3, H, W), actions slot → (T, B)."""
    B, T = env.batch, env.episode_length - 1
    if spec.domain == "scene":  # a scene program has at most `objects` statements
        # objects are a set: teach one canonical order (row-major by cell) so the targets are unambiguous
        programs = [sorted(random_actions(spec, rng.randint(1, T), rng, style), key=lambda a: a["cell"])
                    for _ in range(B)]
        # pad to T actions by placing the last object again (same cell, same look: no change
        # to the image); synthesize drops such repeats
        programs = [p + [p[-1]] * (T - len(p)) for p in programs]
    else:
        programs = [random_actions(spec, T, rng, style) for _ in range(B)]
    actions = {s: torch.tensor([[p[t].get(s, 0) for p in programs] for t in range(T)], device=env.device)
               for s in spec.order}
    return render_prefixes(env, actions, torch.ones(B, 3, env.size, env.size, device=env.device)), actions


def pretrain_loss(policy: Policy, canvases: torch.Tensor, actions: dict,
                  target: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Mean per-step sum of masked per-slot cross-entropies; also per-slot accuracies.
    ``target`` defaults to the final canvas (random programs draw their own targets)."""
    T, B = actions[policy.order[0]].shape
    target = canvases[-1] if target is None else target
    total = torch.zeros((), device=canvases.device)
    correct = {s: 0.0 for s in policy.order}   # tensors after the first step: one sync at the end
    used = {s: 0.0 for s in policy.order}
    for taken, out in teacher_forced_steps(policy, canvases, target, actions):
        flag = taken["flag"] if "flag" in taken else torch.zeros(B, dtype=torch.long, device=canvases.device)
        mask = policy.mask_table[flag]                                          # (B, slots)
        for k, s in enumerate(policy.order):
            ce = F.cross_entropy(out.logits[s], taken[s], reduction="none")     # (B,)
            total = total + (ce * mask[:, k]).sum() / B
            hit = (out.logits[s].argmax(-1) == taken[s]).float()
            correct[s] = correct[s] + (hit * mask[:, k]).sum()
            used[s] = used[s] + mask[:, k].sum()
    acc = {s: float(correct[s]) / float(used[s]) for s in policy.order if float(used[s])}
    return total / T, acc


def _teacher_data(config: TrainConfig, spec, device, stop):
    """(teacher (N, T, slots) long, targets (N, 3, H, W) float) on ``device``; builds the
    teacher file first when it is missing or incomplete (``None`` when ``stop()`` ended the
    build: the file stays partial, to be resumed)."""
    from .data import load_set
    images, _ = load_set(config.run.targets, size=config.run.canvas)
    actions = _teacher_actions(config, spec, images, stop)
    if actions is None:
        return None
    targets = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    return actions.to(device), quantise(targets).to(device)   # uint8-quantised, as in RL


def _teacher_actions(config: TrainConfig, spec, images, stop) -> torch.Tensor | None:
    """The teacher programs (N, T, slots) long, on the CPU, for ``images`` (the run's targets),
    from the teacher file, built first when it is missing or incomplete (``None`` when
    ``stop()`` ended the build)."""
    from .teacher import build_teacher, load_teacher
    run, search = config.run, config.search
    path = config.teacher_path()
    steps = run.episode_length - 1
    try:
        teacher = load_teacher(path, spec, len(images), search.teacher_search)
    except DataError:
        print(f"building teacher programs ({search.teacher_search}) for {len(images)} targets "
              f"-> {path}", file=sys.stderr)
        build_teacher(images, spec, path, steps=steps, candidates=search.teacher_candidates,
                      polish=search.teacher_polish, seed=run.seed,
                      workers=search.teacher_workers or os.cpu_count() or 1, stop=stop,
                      search=search.teacher_search, checkpoint=search.teacher_checkpoint,
                      expand=search.teacher_expand)
        if stop():
            return None
        teacher = load_teacher(path, spec, len(images), search.teacher_search)
    if teacher["actions"].shape[1] != steps:
        raise DataError(f"teacher file {path} has {teacher['actions'].shape[1]} steps; "
                        f"episode_length={run.episode_length} needs {steps}")
    print(f"teacher: {len(images)} programs, raster mse {float(np.mean(teacher['mse'])):.4f}", file=sys.stderr)
    return torch.from_numpy(teacher["actions"].astype(np.int64))


def teacher_drawings(config: TrainConfig, spec, images, batch: int = 256) -> torch.Tensor:
    """The teacher programs' final canvases for ``images`` (the run's targets, N × H × W × 3),
    uint8 (N, 3, H, W) on the CPU, rendered on the raster interpreter the policy paints on
    (``critic_real = "teacher"``: the critic's real images). The teacher file is built first
    when missing, as for pretraining. N × 3 × H × W bytes (110 MB for 9,000 at 64²)."""
    teacher = _teacher_actions(config, spec, images, lambda: False)
    n = len(teacher)
    batch = min(batch, n)
    env = BatchEnv(spec, batch, config.run.episode_length, "raster")
    out = torch.empty((n, 3, config.run.canvas, config.run.canvas), dtype=torch.uint8)
    with torch.no_grad():
        for first in range(0, n, batch):
            rows = torch.arange(first, first + batch) % n   # the last batch wraps round
            actions = _rows_as_actions(spec, teacher[rows])
            env.reset()
            for t in range(teacher.shape[1]):
                env.step({s: actions[s][t] for s in spec.order})
            keep = min(batch, n - first)
            out[first:first + keep] = to_uint8(env.canvas[:keep])
    return out


def pretrain(config: TrainConfig, out_path: str | Path | None = None, stop=None) -> Path:
    """Pretrain for ``config.pretrain`` (steps, seconds, learning rate, batch, source) and write
    a model file (default ``<out_dir>/pretrained.pt``); return its path.

    Every ``checkpoint_every`` steps, and when stopped (``stop()`` True, SIGTERM), the state
    goes to ``pretrain_checkpoint.pt`` beside it; with ``run.resume`` pretraining continues
    from there (a finished pretraining is not repeated; ``pretrain_updates = 0`` keeps the
    step count recorded there). ``out_dir`` is locked for the call;
    torch runs on ``config.torch_threads()`` threads (at least ``shards``), restored on return."""
    with rundir.running(config, stop) as stop_:
        return _pretrain(config, out_path, stop_)


def _pretrain(config: TrainConfig, out_path, stop) -> Path:
    run, pre = config.run, config.pretrain
    if run.shards > 1:   # RL's shards are cores; pretraining does not shard, so it threads on them
        torch.set_num_threads(max(config.torch_threads(), run.shards))
    torch.manual_seed(run.seed)
    rng = random.Random(run.seed)
    device = config.torch_device()
    spec = config.spec()
    out = Path(out_path or Path(run.out_dir) / "pretrained.pt")
    state_path = out.with_name("pretrain_checkpoint.pt")
    state = ckpt.load(state_path) if run.resume and state_path.is_file() else None
    if state is not None and state["finished"] and out.is_file():
        print(f"pretraining finished before ({state['update']} steps): {out}", file=sys.stderr)
        return out
    policy = Policy(spec, config.policy).to(device)
    if run.init_from and state is None:
        loaded, _ = ckpt.load_model(run.init_from)
        policy.load_state_dict(loaded.state_dict())
    opt = torch.optim.Adam(policy.parameters(), lr=pre.pretrain_lr)
    batch = pre.pretrain_batch or config.rl.batch
    teacher = _teacher_data(config, spec, device, stop) if pre.pretrain_source == "teacher" else None
    # stopped while the teacher was built: no step now, a state to resume from (below)
    stopped = pre.pretrain_source == "teacher" and teacher is None
    env = BatchEnv(spec, batch, run.episode_length,   # after the teacher: an error there leaks none
                   "raster" if spec.domain == "paint" else run.interpreter, device=device)
    prefixes = None
    if teacher is not None:
        with torch.no_grad():
            prefixes = teacher_prefixes(spec, env, teacher[0])
        if prefixes is None:
            print(f"teacher prefixes take more than {PREFIX_CACHE_BYTES} bytes: each batch is "
                  "rendered again", file=sys.stderr)
    gen = torch.Generator().manual_seed(run.seed)
    start, elapsed = 0, 0.0
    if state is not None:
        ckpt.validate_record(state["model"], state_path)
        policy.load_state_dict(state["model"]["weights"])
        opt.load_state_dict(state["opt"])
        start, elapsed = state["update"], state["elapsed"]
        torch.set_rng_state(state["torch_rng"])
        gen.set_state(state["gen_rng"])
        rng.setstate(_python_rng(state["python_rng"]))
        print(f"resumed pretraining {state_path} at step {start}", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = rundir.open_log(out.parent / "pretrain_metrics.jsonl", start if state is not None else None)
    t0 = time.perf_counter() - elapsed
    # a resumed pretraining keeps the step count it was started with unless the config sets one
    # (``spiral train --resume`` without the first run's ``--pretrain N``)
    updates = pre.pretrain_updates or (state.get("updates", start) if state is not None else 0)

    def save(update: int, finished: bool) -> None:
        ckpt.save_atomic({"model": ckpt.model_record(policy, stage="pretrain", update=update),
                          "opt": opt.state_dict(), "update": update, "updates": updates,
                          "finished": finished,
                          "elapsed": time.perf_counter() - t0, "torch_rng": torch.get_rng_state(),
                          "gen_rng": gen.get_state(), "python_rng": rng.getstate()}, state_path)
        ckpt.save_model(policy, out, stage="pretrain", update=update,
                        seconds=round(time.perf_counter() - t0, 1))

    update = start
    try:
        for update in range(start + 1, (start if stopped else updates) + 1):
            with torch.no_grad():
                if teacher is None:
                    canvases, actions = make_batch(spec, env, rng)
                    target = None
                else:
                    index = torch.randint(len(teacher[0]), (batch,), generator=gen).to(device)
                    canvases, actions, target = make_teacher_batch(spec, env, *teacher, index, prefixes)
            loss, acc = pretrain_loss(policy, canvases, actions, target)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 10.0)
            opt.step()
            seconds = time.perf_counter() - t0
            record = {"update": update, "loss": loss.item(), "seconds": round(seconds, 2),
                      "frames": update * batch * (run.episode_length - 1),
                      **{f"acc_{s}": round(a, 4) for s, a in acc.items()}}
            log.write(json.dumps(record) + "\n")
            log.flush()
            if run.progress and (update % run.log_every == 0 or update == updates):
                print(f"[pretrain {update}/{updates}] loss {loss.item():.3f} "
                      f"acc end {acc.get('end', acc.get('cell', 0)):.2f} {seconds:.0f}s", file=sys.stderr)
            if update % run.checkpoint_every == 0:
                save(update, finished=False)
            if pre.pretrain_seconds and seconds > pre.pretrain_seconds:
                break
            if stop():
                stopped = True
                break
    except BaseException:  # Ctrl-C: keep what was learned, resumable
        save(update, finished=False)
        raise
    finally:
        log.close()
        env.close()
    save(update, finished=not stopped)
    return out


def _python_rng(state):
    """``random.Random.getstate()`` after a round trip through a checkpoint (lists → tuples)."""
    return tuple(tuple(x) if isinstance(x, list) else x for x in state)
