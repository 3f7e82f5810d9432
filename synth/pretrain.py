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
the policy is distilled from the search it must later beat.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from spiral_dsl.generate import random_actions

from . import checkpoint as ckpt
from .batch_env import BatchEnv
from .errors import DataError
from .nets import Policy
from .rollout import quantise, render_prefixes, teacher_forced_steps
from .train import Args

__all__ = ["make_batch", "pretrain_loss", "pretrain"]


def make_teacher_batch(spec, env: BatchEnv, teacher: torch.Tensor, targets: torch.Tensor, index: torch.Tensor):
    """Teacher programs as data: canvases (T+1, B, 3, H, W), actions slot → (T, B) and the
    real targets (B, 3, H, W) of rows ``index`` of ``teacher`` (N, T, slots) long."""
    rows = teacher[index]                                                  # (B, T, slots)
    actions = {s: rows[:, :, k].T.contiguous() for k, s in enumerate(spec.order)}
    canvases = render_prefixes(env, actions)
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


def _teacher_data(args: Args, spec, device):
    """(teacher (N, T, slots) long, targets (N, 3, H, W) float) on ``device``; builds the
    teacher file first when it is missing or incomplete."""
    import numpy as np

    from .data import load_set
    from .teacher import build_teacher, load_teacher
    images, _ = load_set(args.targets, size=args.canvas)
    path = Path(args.teacher or Path(args.out_dir) / "teacher.npz")
    steps = args.episode_length - 1
    try:
        teacher = load_teacher(path, spec, len(images))
    except DataError:
        print(f"building teacher programs for {len(images)} targets -> {path}", file=sys.stderr)
        build_teacher(images, spec, path, steps=steps, candidates=args.teacher_candidates,
                      polish=args.teacher_polish, seed=args.seed,
                      workers=args.teacher_workers or os.cpu_count() or 1)
        teacher = load_teacher(path, spec, len(images))
    if teacher["actions"].shape[1] != steps:
        raise DataError(f"teacher file {path} has {teacher['actions'].shape[1]} steps; "
                        f"episode_length={args.episode_length} needs {steps}")
    print(f"teacher: {len(images)} programs, raster mse {float(np.mean(teacher['mse'])):.4f}", file=sys.stderr)
    actions = torch.from_numpy(teacher["actions"].astype(np.int64)).to(device)
    targets = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    return actions, quantise(targets).to(device)   # uint8-quantised, as in RL


def pretrain(args: Args, updates: int, lr: float = 3e-4, out_path: str | Path | None = None,
             max_seconds: float = 0.0) -> Path:
    """Pretrain and write a model file (default ``<out_dir>/pretrained.pt``)."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    device = args.torch_device()
    spec = args.spec()
    policy = Policy(spec, args.policy_config()).to(device)
    if args.init_from:
        loaded, _ = ckpt.load_model(args.init_from)
        policy.load_state_dict(loaded.state_dict())
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    batch = args.pretrain_batch or args.batch
    env = BatchEnv(spec, batch, args.episode_length,
                   "raster" if spec.domain == "paint" else args.interpreter, device=device)
    teacher = _teacher_data(args, spec, device) if args.pretrain_source == "teacher" else None
    gen = torch.Generator().manual_seed(args.seed)
    out = Path(out_path or Path(args.out_dir) / "pretrained.pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    log = (out.parent / "pretrain_metrics.jsonl").open("a")
    t0 = time.perf_counter()
    for update in range(1, updates + 1):
        with torch.no_grad():
            if teacher is None:
                canvases, actions = make_batch(spec, env, rng)
                target = None
            else:
                index = torch.randint(len(teacher[0]), (batch,), generator=gen).to(device)
                canvases, actions, target = make_teacher_batch(spec, env, *teacher, index)
                canvases = quantise(canvases)
        loss, acc = pretrain_loss(policy, canvases, actions, target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 10.0)
        opt.step()
        seconds = time.perf_counter() - t0
        record = {"update": update, "loss": loss.item(), "seconds": round(seconds, 2),
                  "frames": update * batch * (args.episode_length - 1),
                  **{f"acc_{s}": round(a, 4) for s, a in acc.items()}}
        log.write(json.dumps(record) + "\n")
        log.flush()
        if args.progress and (update % args.log_every == 0 or update == updates):
            print(f"[pretrain {update}/{updates}] loss {loss.item():.3f} "
                  f"acc end {acc.get('end', acc.get('cell', 0)):.2f} {seconds:.0f}s", file=sys.stderr)
        if update % args.checkpoint_every == 0:
            ckpt.save_model(policy, out, stage="pretrain", update=update)
        if max_seconds and seconds > max_seconds:
            break
    ckpt.save_model(policy, out, stage="pretrain", update=update, seconds=round(time.perf_counter() - t0, 1))
    log.close()
    env.close()
    return out
