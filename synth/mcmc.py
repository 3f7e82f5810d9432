"""Blocked Metropolis–Hastings scene inversion: SPIRAL's baseline (Ganin et al. 2018, sec. 5.2).

The state is a scene of 1..``objects`` objects (action dicts of a scene
:class:`~spiral_dsl.actions.ActionSpec`) in distinct cells, treated as a set (the renderer
z-buffers, so the order of objects does not change the image).

* Likelihood: Gaussian on pixels, variance 0.25: ``log p = -sum((render - target)**2) / 0.5``.
* Prior: uniform over the number of objects 1..N, and given the number, uniform over scenes.
* Proposals (one renderer call each, on the real MuJoCo interpreter):

  - *resample* (probability 1/2, or 1 when neither of the others is possible): pick one
    object uniformly and redraw all its slots as a block, uniformly, its cell among the cells
    no other object holds. Symmetric: accept with ``min(1, L'/L)``.
  - *birth* / *death* (1/4 each where possible; a birth needs n < N, a death n > 1; the one
    not possible gives its share to resample): add a uniform object in a free cell / remove a
    uniform object. Under the prior above, the dimension factors of prior and proposal cancel
    and the acceptance is ``min(1, L'/L * p_death(n+1) / p_birth(n))`` for a birth from n
    objects (the reciprocal form for a death), which keeps the chain reversible.

The first renderer call scores the initial state (``init`` or a draw from the prior); each
later call scores one proposal, so ``renderer_calls == budget`` unless a render matches the
target exactly (MSE 0), where the chain stops early. N is ``min(objects, grid**2)``.
"""
from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np

from spiral_dsl import Program
from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplRangeError, SplTypeError

__all__ = ["MCMCResult", "Proposals", "SceneRenderer", "chain", "check_scene_actions", "mcmc",
           "NOISE_VARIANCE", "SCENE_SLOTS"]

NOISE_VARIANCE = 0.25
SCENE_SLOTS = ("shape", "cell", "size", "red", "green", "blue")
P_RESAMPLE = 0.5


@dataclass
class MCMCResult:
    """The best scene seen, and the chain's bookkeeping.

    ``trace[k]``: the best MSE after renderer call ``k + 1`` (``len(trace) == renderer_calls``).
    ``acceptance_rate``: accepted proposals / proposals (0 when no proposal was made).
    """
    program: Program
    actions: list[dict[str, int]]
    mse: float
    renderer_calls: int
    acceptance_rate: float
    trace: np.ndarray = field(repr=False)


class SceneRenderer:
    """Renders scenes given as action dicts with one cached MuJoCo model, counting calls.

    Every call starts a canvas on the shared ``mujoco`` interpreter (the compiled model and
    GL renderer are reused; only the object slots are rewritten) and returns H×W×3 float32.
    """

    def __init__(self, spec: ActionSpec, size: int | None = None):
        from spiral_dsl.interpreters import get_interpreter

        _check_scene_spec(spec)
        self.spec = spec
        self.size = int(spec.settings["canvas"] if size is None else size)
        self.interpreter = get_interpreter("mujoco", "scene")
        self.calls = 0

    def __call__(self, actions: Sequence[Mapping[str, int]]) -> np.ndarray:
        canvas = self.interpreter.start("scene", dict(self.spec.settings), self.size)
        try:
            for action in actions:
                canvas.execute(self.spec.decode(action))
            self.calls += 1
            return canvas.image()
        finally:
            canvas.close()


def _check_scene_spec(spec) -> None:
    if not isinstance(spec, ActionSpec) or spec.domain != "scene":
        raise SplTypeError(f"spec must be a scene ActionSpec, not {spec!r}")


def _check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    bad = not isinstance(value, Integral) or isinstance(value, bool)
    if bad or value < lo or (hi is not None and value > hi):
        valid = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise SplRangeError(f"{name}={value!r} is out of range: an integer {valid}")
    return int(value)


def _check_target(target) -> np.ndarray:
    if not isinstance(target, np.ndarray):
        raise SplTypeError(f"target must be a numpy array H×W×3, not {type(target).__name__}")
    if target.ndim != 3 or target.shape[2] != 3 or target.shape[0] != target.shape[1]:
        raise SplRangeError(f"target shape {target.shape} is not a square RGB image: "
                            "expected (S, S, 3)")
    if target.shape[0] < 1 or not np.all(np.isfinite(target)):
        raise SplRangeError("target must be a non-empty finite image with values in [0, 1]")
    lo, hi = float(target.min()), float(target.max())
    if lo < 0 or hi > 1:
        raise SplRangeError(f"target values span [{lo:g}, {hi:g}]: expected [0, 1]")
    return target.astype(np.float32, copy=False)


def check_scene_actions(spec: ActionSpec, actions, what: str = "init") -> list[dict[str, int]]:
    """``actions`` as fresh dicts of the six scene slots; raises unless 1..objects objects in
    range and in distinct cells. A :class:`Program` is encoded first."""
    if isinstance(actions, Program):
        actions = spec.encode_program(actions)
    objects = spec.settings["objects"]
    actions = list(actions)
    if not 1 <= len(actions) <= objects:
        raise SplRangeError(f"{what} has {len(actions)} objects: expected 1..{objects}")
    out = []
    for k, action in enumerate(actions):
        if not isinstance(action, Mapping):
            raise SplTypeError(f"{what}[{k}] must be an action dict, not {type(action).__name__}")
        row = {}
        for slot in SCENE_SLOTS:
            if slot not in action:
                raise SplRangeError(f"{what}[{k}] lacks slot {slot!r}; slots: {list(SCENE_SLOTS)}")
            row[slot] = _check_int(f"{what}[{k}][{slot!r}]", action[slot], 0,
                                   spec.slots[slot].n - 1)
        out.append(row)
    cells = [a["cell"] for a in out]
    if len(set(cells)) != len(cells):
        raise SplRangeError(f"{what} puts two objects in one cell (cells {cells}): cells must "
                            "be distinct")
    return out


class Proposals:
    """The proposal kernel: move probabilities and uniform draws (seeded)."""

    def __init__(self, spec: ActionSpec, rng: random.Random):
        self.rng = rng
        self.sizes = {s: spec.slots[s].n for s in SCENE_SLOTS}
        self.objects = min(spec.settings["objects"], self.sizes["cell"])   # most objects

    def move_probabilities(self, n: int) -> dict[str, float]:
        birth = 0.25 if n < self.objects else 0.0
        death = 0.25 if n > 1 else 0.0
        return {"resample": 1.0 - birth - death, "birth": birth, "death": death}

    def uniform_object(self, taken: set[int]) -> dict[str, int]:
        free = [c for c in range(self.sizes["cell"]) if c not in taken]
        cell = free[self.rng.randrange(len(free))]
        obj = {s: self.rng.randrange(n) for s, n in self.sizes.items() if s != "cell"}
        return {s: (cell if s == "cell" else obj[s]) for s in SCENE_SLOTS}

    def propose(self, state: list[dict]) -> tuple[list[dict], float]:
        """A proposed state and the log of its proposal-and-prior ratio (0 for resample)."""
        n = len(state)
        probs = self.move_probabilities(n)
        u = self.rng.random()
        if u < probs["resample"]:
            i = self.rng.randrange(n)
            taken = {a["cell"] for j, a in enumerate(state) if j != i}
            return state[:i] + [self.uniform_object(taken)] + state[i + 1:], 0.0
        if u < probs["resample"] + probs["birth"]:
            new = self.uniform_object({a["cell"] for a in state})
            back = self.move_probabilities(n + 1)["death"]
            return state + [new], math.log(back / probs["birth"])
        i = self.rng.randrange(n)
        back = self.move_probabilities(n - 1)["birth"]
        return state[:i] + state[i + 1:], math.log(back / probs["death"])


def mcmc(target: np.ndarray, *, spec: ActionSpec, budget: int, seed: int = 0,
         init=None) -> MCMCResult:
    """Blocked Metropolis–Hastings on a scene ``target`` (S×S×3 in [0, 1]) for ``budget``
    renderer calls (the initial state's included); deterministic for a ``seed``.

    ``init``: a start scene (action dicts or a Program); default a draw from the prior.
    """
    _check_scene_spec(spec)
    target = _check_target(target)
    budget = _check_int("budget", budget, 1)
    seed = _check_int("seed", seed, 0)
    rng = random.Random(seed)
    kernel = Proposals(spec, rng)
    if init is None:
        n = rng.randint(1, kernel.objects)
        state: list[dict] = []
        for _ in range(n):
            state.append(kernel.uniform_object({a["cell"] for a in state}))
    else:
        state = check_scene_actions(spec, init)
    render = SceneRenderer(spec, size=target.shape[0])

    def sum_sq(actions) -> float:
        return float(np.sum(np.square(render(actions) - target), dtype=np.float64))

    current = sum_sq(state)
    best, best_sq = state, current
    trace = [current]
    accepted = 0
    steps = chain(sum_sq, kernel, state, current, rng)
    while render.calls < budget and best_sq > 0.0:
        state, current, moved = next(steps)
        accepted += moved
        if current < best_sq:
            best, best_sq = state, current
        trace.append(best_sq)
    pixels = target.size
    proposals = render.calls - 1
    return MCMCResult(program=Program.from_actions(spec, best), actions=[dict(a) for a in best],
                      mse=best_sq / pixels, renderer_calls=render.calls,
                      acceptance_rate=accepted / proposals if proposals else 0.0,
                      trace=np.asarray(trace, dtype=np.float64) / pixels)


def chain(sum_sq, kernel: Proposals, state: list[dict], current: float, rng: random.Random):
    """The Metropolis–Hastings chain: yields ``(state, sum_sq(state), accepted)`` after each
    proposal; ``sum_sq(actions)`` is the summed squared pixel error (called once per proposal)."""
    scale = 1.0 / (2 * NOISE_VARIANCE)
    while True:
        proposal, log_ratio = kernel.propose(state)
        proposed = sum_sq(proposal)
        log_accept = (current - proposed) * scale + log_ratio
        moved = log_accept >= 0 or rng.random() < math.exp(log_accept)
        if moved:
            state, current = proposal, proposed
        yield state, current, moved
