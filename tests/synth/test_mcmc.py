"""Blocked Metropolis–Hastings scene inversion on real MuJoCo: search, bookkeeping, kernel."""
import random
from collections import Counter
from itertools import islice

import numpy as np
import pytest

from spiral_dsl import Program
from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplRangeError, SplTypeError
from spiral_dsl.generate import random_actions
from synth.mcmc import Proposals, SceneRenderer, chain, mcmc

SPEC = ActionSpec.for_domain("scene", {"canvas": 64, "objects": 5})
RENDER = SceneRenderer(SPEC)


def one_object_scene(seed):
    actions = random_actions(SPEC, 1, random.Random(seed), "uniform")
    return actions, RENDER(actions)


def chebyshev(a, b, grid=16):
    return max(abs(a % grid - b % grid), abs(a // grid - b // grid))


# ------------------------------------------------------------------ search on real renders
def test_lowers_mse_and_finds_the_cell_of_one_object():
    found = 0
    for seed in range(6):
        true, target = one_object_scene(100 + seed)
        result = mcmc(target, spec=SPEC, budget=3000, seed=seed)
        assert result.mse < result.trace[0]        # better than the initial state
        assert np.all(np.diff(result.trace) <= 0)  # best-so-far never rises
        found += any(chebyshev(a["cell"], true[0]["cell"]) <= 1 for a in result.actions)
    assert found >= 4, f"the object's cell (±1) was found in only {found} of 6 seeds"


def test_best_program_renders_to_the_reported_mse():
    _, target = one_object_scene(7)
    result = mcmc(target, spec=SPEC, budget=100, seed=3)
    assert isinstance(result.program, Program) and result.program.domain == "scene"
    assert result.program.to_actions(SPEC) == result.actions
    image = result.program.render()          # the ordinary render path, real MuJoCo
    assert result.mse == pytest.approx(float(np.mean((image - target) ** 2)), rel=1e-6)
    assert result.mse == pytest.approx(result.trace[-1])


def test_deterministic_for_a_seed():
    _, target = one_object_scene(11)
    a = mcmc(target, spec=SPEC, budget=150, seed=5)
    b = mcmc(target, spec=SPEC, budget=150, seed=5)
    assert a.actions == b.actions and a.acceptance_rate == b.acceptance_rate
    np.testing.assert_array_equal(a.trace, b.trace)
    c = mcmc(target, spec=SPEC, budget=150, seed=6)
    assert (c.actions, c.trace.tolist()) != (a.actions, a.trace.tolist())


# ------------------------------------------------------------------ renderer calls
@pytest.mark.parametrize("budget", [1, 2, 57])
def test_renderer_calls_are_counted_exactly(budget, monkeypatch):
    _, target = one_object_scene(13)
    interp = RENDER.interpreter
    started = []
    real_start = interp.start
    monkeypatch.setattr(interp, "start", lambda *a, **k: started.append(1) or real_start(*a, **k))
    result = mcmc(target, spec=SPEC, budget=budget, seed=0)
    assert result.renderer_calls == budget == len(started) == len(result.trace)
    if budget == 1:
        assert result.acceptance_rate == 0.0


def test_stops_when_a_render_matches_the_target_exactly():
    true, target = one_object_scene(17)
    result = mcmc(target, spec=SPEC, budget=500, seed=0, init=true)
    assert result.renderer_calls == 1 and result.mse == 0.0 and result.actions == true


def test_init_may_be_a_program():
    true, target = one_object_scene(19)
    result = mcmc(target, spec=SPEC, budget=10, seed=0, init=Program.from_actions(SPEC, true))
    assert result.actions == true and result.renderer_calls == 1


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("budget", [0, -3, 2.5, True, "10"])
def test_bad_budget_names_the_value_and_the_range(budget):
    with pytest.raises(SplRangeError, match=rf"budget={budget!r} is out of range.*>= 1"):
        mcmc(np.zeros((64, 64, 3), np.float32), spec=SPEC, budget=budget)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"seed": -1}, SplRangeError, r"seed=-1 is out of range"),
    ({"target": np.zeros((64, 64))}, SplRangeError, r"\(64, 64\) is not a square RGB"),
    ({"target": np.full((8, 8, 3), 2.0)}, SplRangeError, r"span \[2, 2\]: expected \[0, 1\]"),
    ({"target": [[0.0]]}, SplTypeError, r"numpy array"),
    ({"init": []}, SplRangeError, r"0 objects: expected 1..5"),
    ({"init": [{"shape": 0, "cell": 3, "size": 0, "red": 0, "green": 0, "blue": 0}] * 2},
     SplRangeError, r"two objects in one cell"),
    ({"init": [{"shape": 4, "cell": 3, "size": 0, "red": 0, "green": 0, "blue": 0}]},
     SplRangeError, r"'shape'\]=4 is out of range: an integer \[0, 3\]"),
    ({"spec": ActionSpec.for_domain("paint")}, SplTypeError, r"scene ActionSpec"),
])
def test_bad_inputs_raise_clear_errors(kwargs, error, message):
    args = {"target": np.zeros((64, 64, 3), np.float32), "spec": SPEC, "budget": 5, **kwargs}
    with pytest.raises(error, match=message):
        mcmc(args.pop("target"), **args)


# ------------------------------------------------------------------ the kernel's stationarity
def run_chain(sum_sq, steps=40_000, seed=0):
    spec = ActionSpec.for_domain("scene", {"grid": 4, "objects": 3})   # 16 cells
    rng = random.Random(seed)
    kernel = Proposals(spec, rng)
    start = [kernel.uniform_object(set())]
    counts, cells = Counter(), Counter()
    for state, _, _ in islice(chain(sum_sq, kernel, start, sum_sq(start), rng), steps):
        assert len({a["cell"] for a in state}) == len(state)   # cells stay distinct
        counts[len(state)] += 1
        cells.update(a["cell"] for a in state)
    return {n: counts[n] / steps for n in (1, 2, 3)}, cells


def test_flat_likelihood_samples_the_prior():
    """Uniform over the number of objects, and every cell equally often."""
    freq, cells = run_chain(lambda actions: 0.0)
    assert freq == pytest.approx({1: 1 / 3, 2: 1 / 3, 3: 1 / 3}, abs=0.03)
    occupancy = np.array([cells[c] for c in range(16)], float)
    assert occupancy.min() > 0.85 * occupancy.mean() and occupancy.max() < 1.15 * occupancy.mean()


def test_likelihood_reweights_the_number_of_objects():
    """sum_sq = n·ln2/2 gives likelihood 2^-n (variance 0.25), so p(n) ∝ 2^-n: 4/7, 2/7, 1/7."""
    freq, _ = run_chain(lambda actions: len(actions) * np.log(2) / 2)
    assert freq == pytest.approx({1: 4 / 7, 2: 2 / 7, 3: 1 / 7}, abs=0.03)
