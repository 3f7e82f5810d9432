"""Render-and-compare repair of scene programs on real MuJoCo: exact repairs, budget, errors."""
import random

import numpy as np
import pytest

from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplError, SplRangeError, SplTypeError
from synth.data import random_scenes
from synth.mcmc import SCENE_SLOTS, SceneRenderer
from synth.scene_eval import evaluate_repair, held_out_scenes
from synth.scene_repair import RepairResult, repair

SPEC = ActionSpec.for_domain("scene", {"canvas": 64, "grid": 16, "objects": 5})
RENDER = SceneRenderer(SPEC)
GRID = 16


def as_set(actions):
    return {tuple(a[s] for s in SCENE_SLOTS) for a in actions}


def scenes(seed, count=4, least=2):
    """``count`` held-out-style scenes (seed >= 10000) of at least ``least`` objects."""
    out = [s for s in random_scenes(SPEC, 40, seed) if len(s) >= least]
    return out[:count]


def perturb(scene, kind, rng):
    """The scene with one deliberate error of ``kind``."""
    out = [dict(a) for a in scene]
    k = rng.randrange(len(out))
    obj = out[k]
    taken = {a["cell"] for a in out}
    if kind == "colour":
        slot = rng.choice(("red", "green", "blue"))
        obj[slot] = rng.choice([v for v in range(4) if v != obj[slot]])
    elif kind == "shape":
        obj["shape"] = rng.choice([v for v in range(4) if v != obj["shape"]])
    elif kind == "move":
        col, row = obj["cell"] % GRID, obj["cell"] // GRID
        near = [(row + dr) * GRID + col + dc for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                if 0 <= row + dr < GRID and 0 <= col + dc < GRID]
        obj["cell"] = rng.choice([c for c in near if c not in taken])
    elif kind == "extra":
        cell = rng.choice([c for c in range(GRID * GRID) if c not in taken])
        out.append({"shape": rng.randrange(4), "cell": cell, "size": rng.randrange(3),
                    "red": rng.randrange(4), "green": rng.randrange(4), "blue": rng.randrange(4)})
    elif kind == "missing":
        del out[k]
    return out


# ------------------------------------------------------------------ exact repair
@pytest.mark.parametrize("kind", ["colour", "shape", "move", "extra", "missing"])
def test_one_error_is_repaired_exactly(kind):
    rng = random.Random(kind)
    for seed in (10001, 10002):
        for true in scenes(seed, count=2):
            target = RENDER(true)
            start = perturb(true, kind, rng)
            assert np.abs(RENDER(start) - target).max() > 0    # the error shows in the image
            result = repair(target, start, SPEC, budget=600)
            assert result.mse == 0.0, (kind, seed, true, start, result.actions)
            assert as_set(result.actions) == as_set(true)
            assert result.renderer_calls <= 300


def test_an_object_moved_far_in_a_full_scene_is_found_again():
    # five objects: no room for a birth, so the wrong object must be rebuilt where it belongs
    repaired = 0
    for true in scenes(10012, count=3, least=5):
        rng = random.Random(true[0]["cell"])
        start = [dict(a) for a in true]
        taken = {a["cell"] for a in true}
        start[2]["cell"] = rng.choice([c for c in range(GRID * GRID) if c not in taken])
        result = repair(RENDER(true), start, SPEC, budget=300)
        repaired += result.mse == 0.0 and as_set(result.actions) == as_set(true)
    assert repaired == 3


def test_held_out_repair_is_exact_and_cheap():
    # every object of 30 held-out scenes perturbed once (a random kind per object)
    truths, targets = held_out_scenes(SPEC, count=30, seed=12345)
    rng = random.Random(0)
    starts = []
    for true in truths:
        start = [dict(a) for a in true]
        for k in range(len(start)):
            slot = rng.choice(SCENE_SLOTS)
            taken = {a["cell"] for a in start}
            values = ([c for c in range(GRID * GRID) if c not in taken] if slot == "cell" else
                      [v for v in range(SPEC.slots[slot].n) if v != start[k][slot]])
            start[k][slot] = rng.choice(values)
        starts.append(start)
    out = evaluate_repair(SPEC, (truths, targets), starts, budget=600)
    assert out["exact_fraction"] >= 0.98 and out["extra_per_scene"] <= 0.05
    assert out["mean_renderer_calls"] <= 60            # measured 19 on 100 such scenes


def test_empty_start_recovers_a_scene():
    true = scenes(10003, count=1, least=3)[0]
    result = repair(RENDER(true), [], SPEC)
    assert result.mse == 0.0 and as_set(result.actions) == as_set(true)


def test_exact_start_costs_one_render():
    true = scenes(10004, count=1)[0]
    result = repair(RENDER(true), true, SPEC)
    assert (result.renderer_calls, result.mse, as_set(result.actions)) == (1, 0.0, as_set(true))


# ------------------------------------------------------------------ budget and bookkeeping
@pytest.mark.parametrize("budget", [1, 2, 7, 23])
def test_budget_is_respected_exactly(budget):
    true = scenes(10005, count=1, least=4)[0]
    target = RENDER(true)
    renderer = SceneRenderer(SPEC)
    result = repair(target, [], SPEC, budget=budget, renderer=renderer)
    assert isinstance(result, RepairResult)
    assert result.renderer_calls == renderer.calls == len(result.trace) == budget
    assert np.all(np.diff(result.trace) <= 0)               # best-so-far never rises
    assert result.mse == result.trace[-1]
    assert result.mse == pytest.approx(float(np.mean((RENDER(result.actions) - target) ** 2)))


def test_shared_renderer_counts_across_calls():
    true = scenes(10006, count=1)[0]
    target = RENDER(true)
    renderer = SceneRenderer(SPEC)
    a = repair(target, true[1:], SPEC, renderer=renderer)
    b = repair(target, true[:1], SPEC, renderer=renderer)
    assert renderer.calls == a.renderer_calls + b.renderer_calls


def test_deterministic():
    true = scenes(10007, count=1, least=4)[0]
    target = RENDER(true)
    start = perturb(perturb(true, "shape", random.Random(1)), "move", random.Random(2))
    a = repair(target, start, SPEC, budget=40)
    b = repair(target, start, SPEC, budget=40)
    assert a.actions == b.actions and a.renderer_calls == b.renderer_calls
    np.testing.assert_array_equal(a.trace, b.trace)


# ------------------------------------------------------------------ the propose hook
def test_propose_supplies_the_missing_object():
    true = scenes(10008, count=1, least=3)[0]
    target = RENDER(true)
    seen = []

    def oracle(tgt, canvas, actions):
        seen.append((tgt.shape, canvas.shape, len(actions)))
        missing = [a for a in true if tuple(a.values()) not in {tuple(b.values()) for b in actions}]
        return missing[:1]

    result = repair(target, true[1:], SPEC, propose=oracle)
    assert result.renderer_calls == 2 and result.mse == 0.0       # the start, the proposal
    assert seen == [((64, 64, 3), (64, 64, 3), len(true) - 1)]


def test_propose_result_is_checked():
    true = scenes(10009, count=1)[0]
    with pytest.raises(SplRangeError, match="propose"):
        repair(RENDER(true), true[1:], SPEC, propose=lambda *_: [{"shape": 9}])
    with pytest.raises(SplTypeError, match="propose"):
        repair(RENDER(true), true[1:], SPEC, propose=lambda *_: 3)


# ------------------------------------------------------------------ bad input
def test_bad_input_is_a_clear_error():
    true = scenes(10010, count=1)[0]
    target = RENDER(true)
    for budget in (0, -3, 1.5, "9", True):
        with pytest.raises(SplRangeError, match="budget"):
            repair(target, true, SPEC, budget=budget)
    paint = ActionSpec.for_domain("paint", {"canvas": 64})
    with pytest.raises(SplTypeError, match="scene ActionSpec"):
        repair(target, true, paint)
    bad = [dict(true[0], size=3)]
    with pytest.raises(SplRangeError, match="size"):
        repair(target, bad, SPEC)
    with pytest.raises(SplRangeError, match="lacks slot 'red'"):
        repair(target, [{k: v for k, v in true[0].items() if k != "red"}], SPEC)
    with pytest.raises(SplRangeError, match="two objects in one cell"):
        repair(target, [true[0], dict(true[0], shape=(true[0]["shape"] + 1) % 4)], SPEC)
    with pytest.raises(SplRangeError, match="objects"):
        repair(target, [dict(true[0], cell=c) for c in range(6)], SPEC)
    with pytest.raises(SplTypeError, match="list of action dicts"):
        repair(target, true[0], SPEC)
    with pytest.raises(SplRangeError, match="renderer"):
        repair(target, true, SPEC, renderer=SceneRenderer(SPEC, size=32))
    with pytest.raises(SplTypeError, match="propose"):
        repair(target, true, SPEC, propose=5)
    with pytest.raises(SplError):
        repair(target[:, :10], true, SPEC)


def test_evaluate_repair_aggregates():
    truths = scenes(10011, count=3)
    targets = np.stack([RENDER(t) for t in truths])
    starts = [t[1:] for t in truths]
    out = evaluate_repair(SPEC, (truths, targets), starts, budget=200)
    assert out["scenes"] == 3 and out["objects"] == sum(len(t) for t in truths)
    assert out["exact_fraction"] == 1.0 and out["mean_mse"] == 0.0
    assert 1 <= out["mean_renderer_calls"] <= 200
    with pytest.raises(SplRangeError, match="starts"):
        evaluate_repair(SPEC, (truths, targets), starts[:2])


# ------------------------------------------------------------------ hidden objects
FRONT = {"shape": 3, "cell": 6 * 16 + 7, "size": 2, "red": 3, "green": 1, "blue": 0}   # large capsule
HIDDEN = {"shape": 0, "cell": 5 * 16 + 7, "size": 0, "red": 0, "green": 0, "blue": 3}  # small sphere behind


def test_a_hidden_start_object_is_kept_an_added_one_pruned():
    from synth.scene_repair import _key, _prune, _Search

    target = RENDER([FRONT])
    np.testing.assert_array_equal(RENDER([FRONT, HIDDEN]), target)     # HIDDEN does not show
    # the image cannot refute an object of the start scene: it stays, at the cost of one render
    kept = repair(target, [FRONT, HIDDEN], SPEC)
    assert (kept.renderer_calls, kept.mse, as_set(kept.actions)) == (1, 0.0, as_set([FRONT, HIDDEN]))
    # one the search added is dropped: same error, fewer objects
    search = _Search(target, [FRONT, HIDDEN], SPEC, SceneRenderer(SPEC), budget=10)
    search.initial = _key([FRONT])
    assert _prune(search) and search.state == [FRONT] and search.sq == 0.0 and search.calls == 2
