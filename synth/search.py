"""Training-free synthesis: greedy stroke-by-stroke search and local refinement.

Both score candidates on the batched raster interpreter (fast) and the caller verifies on real
libmypaint. They are a first-class method (``synthesize(method="greedy")``) and the baseline
the learned policy must beat.

* :func:`greedy` — at each step sample ``candidates`` statements (a stroke continuing from the
  pen, or a move then a stroke; colour read from the target under the stroke), keep the one
  that lowers MSE most, then perturb it locally on the grid for ``polish`` rounds.
* :func:`refine` — coordinate descent on an existing program: grid moves of its points,
  size/pressure/colour steps; a change is kept when it lowers the raster MSE; the result is
  kept only if real libmypaint agrees it is better.
* :func:`descend` — the same on the raster alone, deterministic and systematic: every
  neighbour of every statement on the action grid is tried, until none lowers the error. For
  a target a short program drew on the raster, it turns a nearby program (the policy's beam,
  fitted: ``synth.fit``) into that program exactly (tests/synth/test_search.py).
"""
from __future__ import annotations

import random
import time

import numpy as np
import torch

from spiral_dsl import Program
from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplRangeError, SplTypeError
from spiral_dsl.interpreters import take_rows
from spiral_dsl.interpreters.batched import start_batch

from .batch_env import BatchEnv

__all__ = ["greedy", "greedy_actions", "refine", "descend", "render_actions"]


def _target_tensor(target: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(target.transpose(2, 0, 1))).float()   # (3, H, W)


def _mse(canvas: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((canvas - target[None]) ** 2).flatten(1).mean(1)


def render_actions(spec: ActionSpec, programs: list[list[dict]], env: BatchEnv | None = None) -> torch.Tensor:
    """Raster renders (B, 3, H, W) of B action sequences of equal length."""
    B, T = len(programs), len(programs[0])
    env = env or BatchEnv(spec, B, T + 1, "raster")
    env.reset()
    for t in range(T):
        env.step({s: torch.tensor([p[t].get(s, 0) for p in programs]) for s in spec.order})
    return env.canvas


def _colour_at(spec: ActionSpec, target: np.ndarray, x: float, y: float) -> dict:
    canvas = spec.settings["canvas"]
    h = target.shape[0]
    px = min(max(int(x / canvas * h), 0), h - 1)
    py = min(max(int(y / canvas * h), 0), h - 1)
    levels = spec.slots["red"].n - 1
    r, g, b = (int(round(float(c) * levels)) for c in target[py, px])
    return {"red": r, "green": g, "blue": b}


def _random_stroke(spec: ActionSpec, rng: random.Random, target: np.ndarray, pen) -> list[dict]:
    """A candidate: [stroke] from the pen, or [move, stroke] from a random point."""
    n_loc = spec.slots["end"].n
    out = []
    if pen is None or rng.random() < 0.5:
        start = rng.randrange(n_loc)
        out.append({"flag": 0, "end": start})
        pen = spec.slots["end"].values[start]
    end = rng.randrange(n_loc)
    ex, ey = spec.slots["end"].values[end]
    control = rng.randrange(n_loc) if rng.random() < 0.3 else _near(spec, ((pen[0] + ex) / 2, (pen[1] + ey) / 2), rng, 2)
    cx, cy = spec.slots["control"].values[control]
    stroke = {"flag": 1, "end": end, "control": control, "size": rng.randrange(min(4, spec.slots["size"].n)),
              "pressure": rng.randrange(4, spec.slots["pressure"].n)}
    stroke.update(_colour_at(spec, target, (pen[0] + 2 * cx + ex) / 4, (pen[1] + 2 * cy + ey) / 4))
    out.append(stroke)
    return out


def _near(spec: ActionSpec, xy, rng: random.Random, radius: int) -> int:
    grid = spec.settings["grid"]
    step = spec.settings["canvas"] / grid
    col = min(max(round(xy[0] / step) + rng.randint(-radius, radius), 0), grid - 1)
    row = min(max(round(xy[1] / step) + rng.randint(-radius, radius), 0), grid - 1)
    return row * grid + col


def _perturb(spec: ActionSpec, actions: list[dict], rng: random.Random) -> list[dict]:
    out = [dict(a) for a in actions]
    a = out[-1]
    slot = rng.choice(["end", "control", "size", "pressure", "colour"] + (["start"] if len(out) == 2 else []))
    if slot in ("end", "control"):
        a[slot] = _near(spec, spec.slots[slot].values[a[slot]], rng, 1)
    elif slot == "start":
        out[0]["end"] = _near(spec, spec.slots["end"].values[out[0]["end"]], rng, 1)
    elif slot == "colour":
        for c in ("red", "green", "blue"):
            a[c] = min(max(a[c] + rng.randint(-1, 1), 0), spec.slots[c].n - 1)
    else:
        a[slot] = min(max(a[slot] + rng.choice((-1, 1)), 0), spec.slots[slot].n - 1)
    return out


class _Prefix:
    """The raster canvas after the program so far, and K-wide canvases to try tails from it
    (both through the batch contract: :class:`~spiral_dsl.interpreters.base.BatchCanvas`)."""

    def __init__(self, spec: ActionSpec):
        self.spec = spec
        self.one = self.open(1)

    def open(self, batch: int):
        """``batch`` fresh raster canvases of the spec's header."""
        return start_batch("raster", "paint", dict(self.spec.settings), batch)

    def _step(self, canvases, actions: list[dict]) -> None:
        """One action per canvas (a slot an action lacks is index 0)."""
        canvases.step(self.spec.values_of(self.spec.stack(actions)))

    def extend(self, actions: list[dict]) -> None:
        for a in actions:
            self._step(self.one, [a])

    def try_tails(self, tails: list[list[dict]], target: torch.Tensor) -> torch.Tensor:
        """MSE after each tail, every tail starting from the prefix's full canvas state
        (canvas, pen and brush); tails of equal length run as one batch."""
        scores = torch.empty(len(tails))
        by_length: dict[int, list[int]] = {}
        for n, tail in enumerate(tails):
            by_length.setdefault(len(tail), []).append(n)
        for length, members in by_length.items():
            k = len(members)
            canvases = self.open(k)
            canvases.load_state(take_rows(self.one.state(), [0] * k))
            for step in range(length):
                self._step(canvases, [tails[n][step] for n in members])
            scores[members] = _mse(canvases.image(), target)
            canvases.close()
        return scores


def _on_grid(program: Program) -> tuple[ActionSpec, list[dict]]:
    """The paint action space of ``program``'s header and its statements snapped to it, each
    action with every slot (a slot its statement does not use is index 0)."""
    spec = ActionSpec.for_domain("paint", program.settings)
    return spec, [{s: a.get(s, 0) for s in spec.order} for a in program.to_actions(spec, snap=True)]


def _off_grid(spec: ActionSpec, full: list[dict]) -> Program:
    """The program of ``full`` (actions with every slot), each statement with its own slots."""
    return Program.from_actions(spec, [{s: a[s] for s in spec.used_slots(a["flag"])} for a in full])


def _replay(prefix: _Prefix, full: list[dict], k: int, states: list) -> list:
    """The canvas states before each statement of ``full`` and after the last, recomputed from
    statement ``k`` on (``states[:k + 1]`` are kept: a state is never changed by later steps,
    the batch contract's)."""
    prefix.one.load_state(states[k])
    states = states[: k + 1]
    for a in full[k:]:
        prefix._step(prefix.one, [a])
        states.append(prefix.one.state())
    return states


def greedy(target: np.ndarray, *, seed: int = 0, steps: int = 19, candidates: int = 192, polish: int = 4,
           spec: ActionSpec | None = None) -> Program:
    """Greedy search for a program of at most ``steps`` statements (paint domain)."""
    spec = spec or ActionSpec.for_domain("paint")
    return Program.from_actions(spec, greedy_actions(target, seed=seed, steps=steps, candidates=candidates,
                                              polish=polish, spec=spec))


def greedy_actions(target: np.ndarray, *, seed: int = 0, steps: int = 19, candidates: int = 192,
                   polish: int = 4, spec: ActionSpec | None = None) -> list[dict]:
    """:func:`greedy` as action dicts (only the slots each statement uses)."""
    with torch.no_grad():
        spec = spec or ActionSpec.for_domain("paint")
        rng = random.Random(seed)
        t = _target_tensor(target)
        state = _Prefix(spec)
        program: list[dict] = []
        best_mse = float(_mse(state.one.image(), t)[0])
        while len(program) < steps:
            pen = spec.slots["end"].values[program[-1]["end"]] if program else None
            budget = steps - len(program)
            pool = [c for c in (_random_stroke(spec, rng, target, pen) for _ in range(candidates)) if len(c) <= budget]
            if not pool:
                break
            scores = state.try_tails(pool, t)
            k = int(torch.argmin(scores))
            choice, score = pool[k], float(scores[k])
            for _ in range(polish):
                variants = [v for v in (_perturb(spec, choice, rng) for _ in range(candidates)) if len(v) <= budget]
                if not variants:
                    break
                vs = state.try_tails(variants, t)
                j = int(torch.argmin(vs))
                if float(vs[j]) < score:
                    choice, score = variants[j], float(vs[j])
            if score >= best_mse - 1e-6:
                break  # nothing helps any more
            program += choice
            state.extend(choice)
            best_mse = score
        return program


def refine(program: Program, target: np.ndarray, *, seconds: float = 2.0, seed: int = 0,
           variants: int = 48) -> Program:
    """Local refinement of a paint program within ``seconds``; verified on libmypaint.

    Each round perturbs one statement ``variants`` ways and replays only from that statement
    on, starting from the stored raster state before it (the prefix is shared)."""
    spec, full = _on_grid(program)
    if not full:
        return program
    rng = random.Random(seed)
    t = _target_tensor(target)
    prefix = _Prefix(spec)
    t0 = time.perf_counter()

    with torch.no_grad():
        states = _replay(prefix, full, 0, [prefix.one.state()])
        best = float(_mse(prefix.one.image(), t)[0])
        painter = prefix.open(variants)
        while time.perf_counter() - t0 < seconds:
            i = rng.randrange(len(full))
            changed = []
            for _ in range(variants):
                c = _perturb(spec, [full[i]], rng)[0]
                if rng.random() < 0.15:  # sometimes flip a move into a stroke or back
                    c["flag"] = 1 - c["flag"]
                changed.append(c)
            painter.load_state(take_rows(states[i], [0] * variants))
            prefix._step(painter, changed)
            for a in full[i + 1:]:
                prefix._step(painter, [a] * variants)
            scores = _mse(painter.image(), t)
            j = int(torch.argmin(scores))
            if float(scores[j]) < best:
                best, full[i] = float(scores[j]), changed[j]
                states = _replay(prefix, full, i, states)
    refined = _off_grid(spec, full)
    before = float(np.mean((program.render() - target) ** 2))
    after = float(np.mean((refined.render() - target) ** 2))
    return refined if after < before else program


def descend(program: Program, target: np.ndarray, *, seconds: float = 10.0) -> tuple[Program, float]:
    """``program`` snapped to the action grid, then improved by steepest descent on the raster
    interpreter until no neighbour lowers its MSE against ``target`` (H×W×3 float in [0, 1]),
    the MSE is 0, or ``seconds`` have passed. Returns the program and its raster MSE.

    Statement by statement, every neighbour (:func:`_neighbours`: each point one grid cell in
    eight directions, every pressure × size pair, each colour channel and the grey level one
    step, a stroke turned into a move, the statement deleted, a move and its stroke reversed)
    is tried in one raster batch from the stored canvas state before it, and the best is kept
    when it lowers the error. Deterministic: no randomness, and the same input converges to the
    same program (``seconds`` only cuts it short). Unlike :func:`refine` it does not consult
    libmypaint: a caller whose target is a libmypaint image verifies the result there."""
    if not isinstance(program, Program) or program.domain != "paint":
        what = getattr(program, "domain", type(program).__name__)
        raise SplTypeError(f"descend takes a paint Program, not {what!r}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise SplRangeError(f"seconds={seconds!r} must be > 0")
    spec, full = _on_grid(program)
    t = _target_tensor(target)
    prefix = _Prefix(spec)
    deadline = time.perf_counter() + seconds

    with torch.no_grad():
        states = _replay(prefix, full, 0, [prefix.one.state()])
        best = float(_mse(prefix.one.image(), t)[0])
        improved = True
        while improved and best > 0 and time.perf_counter() < deadline:
            improved = False
            i = 0
            while i < len(full) and best > 0 and time.perf_counter() < deadline:
                tails = _neighbours(spec, full, i)
                prefix.one.load_state(states[i])
                scores = prefix.try_tails(tails, t)
                j = int(torch.argmin(scores))
                if float(scores[j]) < best:
                    best, full = float(scores[j]), full[:i] + tails[j]
                    states = _replay(prefix, full, i, states)
                    improved = True
                i += 1
    return Program(program.header, list(_off_grid(spec, full)), metadata=program.metadata), best


def _neighbours(spec: ActionSpec, full: list[dict], i: int) -> list[list[dict]]:
    """Every program tail from statement ``i`` on that differs from ``full[i:]`` by one move of
    :func:`descend` (the empty tail: the last statement deleted)."""
    grid = spec.settings["grid"]
    move = spec.slots["flag"].values.index("move")
    a, rest = full[i], full[i + 1:]
    tails = []

    def changed(**values):
        tails.append([{**a, **values}] + rest)

    used = spec.used_slots(a["flag"])
    for slot in ("end", "control"):
        if slot in used:
            row, col = divmod(a[slot], grid)
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    if (dr or dc) and 0 <= row + dr < grid and 0 <= col + dc < grid:
                        changed(**{slot: (row + dr) * grid + col + dc})
    if "pressure" in used:   # a stroke: pressure and size trade off, so try every pair
        for p in range(spec.slots["pressure"].n):
            for z in range(spec.slots["size"].n):
                if (p, z) != (a["pressure"], a["size"]):
                    changed(pressure=p, size=z)
        colours = ("red", "green", "blue")
        for d in (-1, 1):
            for c in colours:
                if 0 <= a[c] + d < spec.slots[c].n:
                    changed(**{c: a[c] + d})
            if all(0 <= a[c] + d < spec.slots[c].n for c in colours):
                changed(**{c: a[c] + d for c in colours})
        changed(flag=move)                                # the stroke becomes a move
    tails.append(rest)                                    # the statement deleted
    if a["flag"] == move and rest and rest[0]["flag"] != move:   # its stroke, reversed
        tails.append([{**a, "end": rest[0]["end"]}, {**rest[0], "end": a["end"]}] + rest[1:])
    return tails
