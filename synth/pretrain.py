"""Supervised pretraining of the SPIRAL policy on random programs (behaviour cloning).

    spiral pretrain --config configs/mnist.toml [--set pretrain_updates=...]

Each batch: draw random core programs from the DSL's own generator
(:mod:`spiral_dsl.generate`, ``pen`` style), render every prefix with the batched raster
interpreter (the canvas before each action), use the final canvas as the target, and minimise
the per-slot cross-entropy of the taken actions under teacher forcing (each slot sees the true
values of the slots before it; slots a statement does not use are masked). RL then starts from
these weights (``init_from``).
"""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from spiral_dsl.generate import random_actions

from . import checkpoint as ckpt
from .batch_env import BatchEnv
from .nets import Policy
from .train import Args

__all__ = ["make_batch", "pretrain_loss", "pretrain"]


def make_batch(spec, env: BatchEnv, rng: random.Random, style: str = "pen"):
    """Random programs as teacher data: canvases (T+1, B, 3, H, W), actions slot → (T, B)."""
    B, T = env.batch, env.episode_length - 1
    if spec.domain == "scene":  # a scene program has at most `objects` statements
        programs = [random_actions(spec, rng.randint(1, T), rng, style) for _ in range(B)]
        # pad with repeats of the last object so every episode has T actions (same cell: no-op
        # visually only if identical, so keep the real count by re-placing the last object)
        programs = [p + [p[-1]] * (T - len(p)) for p in programs]
    else:
        programs = [random_actions(spec, T, rng, style) for _ in range(B)]
    actions = {s: torch.tensor([[p[t].get(s, 0) for p in programs] for t in range(T)]) for s in spec.order}
    env.reset(torch.ones(B, 3, env.size, env.size))
    canvases = [env.canvas.clone()]
    for t in range(T):
        env.step({s: actions[s][t] for s in spec.order})
        canvases.append(env.canvas.clone())
    return torch.stack(canvases), actions


def pretrain_loss(policy: Policy, canvases: torch.Tensor, actions: dict) -> tuple[torch.Tensor, dict]:
    """Mean per-step sum of masked per-slot cross-entropies; also per-slot accuracies."""
    T, B = actions[policy.order[0]].shape
    target = canvases[-1]
    state, prev = policy.initial_state(B), policy.no_action(B)
    total = torch.zeros(())
    correct = {s: 0.0 for s in policy.order}
    used = {s: 0.0 for s in policy.order}
    for t in range(T):
        taken = {s: actions[s][t] for s in policy.order}
        out = policy(canvases[t], target, prev, state, actions=taken)
        flag = taken["flag"] if "flag" in taken else torch.zeros(B, dtype=torch.long)
        mask = policy.mask_table[flag]                                          # (B, slots)
        for k, s in enumerate(policy.order):
            ce = F.cross_entropy(out.logits[s], taken[s], reduction="none")     # (B,)
            total = total + (ce * mask[:, k]).sum() / B
            hit = (out.logits[s].argmax(-1) == taken[s]).float()
            correct[s] += (hit * mask[:, k]).sum().item()
            used[s] += mask[:, k].sum().item()
        prev, state = taken, out.state
    acc = {s: correct[s] / used[s] for s in policy.order if used[s]}
    return total / T, acc


def pretrain(args: Args, updates: int, lr: float = 3e-4, out_path: str | Path | None = None,
             max_seconds: float = 0.0) -> Path:
    """Pretrain and write a model file (default ``<out_dir>/pretrained.pt``)."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    spec = args.spec()
    policy = Policy(spec, args.policy_config())
    if args.init_from:
        loaded, _ = ckpt.load_model(args.init_from)
        policy.load_state_dict(loaded.state_dict())
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    env = BatchEnv(spec, args.batch, args.episode_length,
                   "raster" if spec.domain == "paint" else args.interpreter)
    out = Path(out_path or Path(args.out_dir) / "pretrained.pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    log = (out.parent / "pretrain_metrics.jsonl").open("a")
    t0 = time.perf_counter()
    for update in range(1, updates + 1):
        with torch.no_grad():
            canvases, actions = make_batch(spec, env, rng)
        loss, acc = pretrain_loss(policy, canvases, actions)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 10.0)
        opt.step()
        seconds = time.perf_counter() - t0
        record = {"update": update, "loss": loss.item(), "seconds": round(seconds, 2),
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
