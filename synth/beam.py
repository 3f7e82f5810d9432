"""Beam search guided by the policy: the policy proposes each next statement, the raster scores.

``beam_search(policy, target)`` keeps ``width`` partial programs. At every step each of them
is continued by ``expand`` statements sampled from the policy (one batch of ``width ×
expand`` on the raster interpreter the policy was trained on, each continuation starting from
its parent's stored canvas state: pen, brush and all); the ``width`` continuations whose canvas
is closest to the target (MSE) survive, with their LSTM states. Identical continuations of one
parent count once, so a beam is not filled with copies of one statement; ``move``s (which paint
nothing) tie with their parent and survive only behind every continuation that lowered the
error, keeping a few pen positions for the next stroke.

Sampling the policy many times (``synthesize``'s ``"policy"`` method) asks it for whole
programs and keeps the best; the beam asks it for one statement at a time and keeps the best
prefixes, so a good stroke is never lost to a bad later one. On 20 evaluation digits with
``synth/checkpoints/mnist_lean.pt`` (one thread, ``bench/bench_beam.py``): 16 samples reached
a mean MSE of 0.0306 in 0.19 s per image, a beam of 4 × 8 0.0217 in 0.27 s, 4 × 16 0.0193 in
0.45 s; greedy search 0.0250 in 0.34 s (96 / 2) and 0.0177 in 1.9 s (its default).

Deterministic for a seed (torch's global generator, as the policy samples); paint only.
"""
from __future__ import annotations

import numpy as np
import torch

from spiral_dsl import Program
from spiral_dsl.ast import Header
from spiral_dsl.errors import SplRangeError, SplTypeError
from spiral_dsl.interpreters.base import take_rows
from spiral_dsl.interpreters.batched import start_batch

from .rollout import from_uint8, to_uint8

__all__ = ["beam_search", "WIDTH"]

WIDTH = 4
"""Partial programs kept at each step (``synthesize(method="beam")``)."""


@torch.inference_mode()
def beam_search(policy, target: np.ndarray, *, width: int = WIDTH, expand: int = 16,
                steps: int = 19, seed: int = 0) -> tuple[list[Program], np.ndarray]:
    """The ``width`` best programs of ``steps`` statements (at most) for ``target`` (H×W×3
    float in [0, 1]) found by the policy-guided beam, best first, and their raster MSEs."""
    spec = policy.spec
    if spec.domain != "paint":
        raise SplTypeError(f"beam_search paints; the policy draws {spec.domain!r}")
    for name, value in (("width", width), ("expand", expand), ("steps", steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SplRangeError(f"{name}={value!r} must be an integer >= 1")
    order = policy.order
    torch.manual_seed(seed)
    goal = from_uint8(to_uint8(torch.from_numpy(np.ascontiguousarray(target.transpose(2, 0, 1)))[None]))
    painter = start_batch("raster", "paint", dict(spec.settings), 1)
    painter.reset()
    features = policy.target_features(goal.expand(width, -1, -1, -1))
    h, c = policy.initial_state(1)
    prev = policy.no_action(1)
    history: list[dict] = []        # per step: slot → (beams,) actions of the surviving beams
    errors = _mse(painter.image(), goal)
    try:
        for _ in range(steps):
            beams = len(errors)
            rows = torch.arange(beams).repeat_interleave(expand)               # parent of each child
            # each parent is encoded once; its ``expand`` children share that and differ in
            # the statements the decoder samples for them
            z, (h, c), fmap = policy.encode(from_uint8(to_uint8(painter.image())), goal.expand(beams, -1, -1, -1),
                                            prev, (h, c), target_features=features[:beams])
            out = policy.decode(z[rows], fmap[rows], (h[rows], c[rows]), scores=False)
            painter.load_state(take_rows(painter.state(), rows))
            painter.step(spec.values_of(out.actions))
            children = _mse(painter.image(), goal)
            keep = _survivors(spec, children, rows, out.actions, width)
            painter.load_state(take_rows(painter.state(), keep))
            parents = rows[keep]
            history = [{s: a[s][parents] for s in order} for a in history]
            history.append({s: out.actions[s][keep] for s in order})
            h, c = out.state[0][keep], out.state[1][keep]
            prev = {s: out.actions[s][keep] for s in order}
            errors = children[keep]
        header = Header("paint", tuple(sorted(spec.explicit_settings().items())))
        programs = [Program(header, [spec.decode({s: int(step[s][b]) for s in order}) for step in history])
                    for b in range(len(errors))]
        return programs, errors.numpy()
    finally:
        painter.close()


def _mse(images: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    return ((images - goal) ** 2).flatten(1).mean(1)


def _survivors(spec, errors: torch.Tensor, parents: torch.Tensor, actions: dict, width: int) -> torch.Tensor:
    """Indices of the ``width`` lowest ``errors``, best first (ties in sample order), each
    (parent, statement) once: a statement is its flag and the slots it uses."""
    order = spec.order
    table = torch.stack([parents] + [actions[s] for s in order], 1).tolist()
    flag = order.index("flag")
    used = {f: [order.index(s) for s in order if s in spec.used_slots(f)] for f in range(spec.slots["flag"].n)}
    keep, seen = [], set()
    for i in torch.argsort(errors, stable=True).tolist():
        row = table[i]
        key = (row[0], row[1 + flag], *(row[1 + k] for k in used[row[1 + flag]]))
        if key not in seen:
            seen.add(key)
            keep.append(i)
            if len(keep) == width:
                break
    return torch.tensor(keep)
