"""synth.search: greedy search and refinement on the raster batch canvas, verified on libmypaint."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from spiral_dsl import Program
from spiral_dsl.actions import ActionSpec
from spiral_dsl.interpreters import take_rows
from synth.data import load_set
from synth.search import (
    _mse,
    _Prefix,
    _target_tensor,
    descend,
    greedy,
    greedy_actions,
    refine,
    render_actions,
)

SPEC = ActionSpec.for_domain("paint")
#: a simple target: one dark stroke on white paper, drawn by libmypaint
LINE = Program.parse('paint\nmove to (12, 12)\nstroke via (32, 30) to (52, 50) pressure 1 size 4 color #000000')


@pytest.fixture(scope="module")
def line_target():
    return LINE.render()


def mse(a, b) -> float:
    return float(np.mean((a - b) ** 2))


def test_greedy_draws_a_simple_target_far_better_than_the_blank_canvas(line_target):
    program = greedy(line_target, seed=0, steps=6, candidates=48, polish=2)
    assert 0 < len(program) <= 6
    blank = mse(np.ones_like(line_target), line_target)
    assert mse(program.render(backend="raster"), line_target) < 0.5 * blank
    assert mse(program.render(), line_target) < 0.5 * blank          # libmypaint agrees


def test_greedy_beats_the_blank_canvas_on_a_digit():
    images, _ = load_set("mnist-eval")
    target = images[150]
    p = greedy(target, seed=0, steps=8, candidates=32, polish=1)
    assert 0 < len(p) <= 8
    assert np.mean((p.render(backend="raster") - target) ** 2) < 0.8 * np.mean((1 - target) ** 2)


def test_greedy_is_deterministic_for_a_seed_and_depends_on_it(line_target):
    runs = [greedy_actions(line_target, seed=s, steps=4, candidates=16, polish=1) for s in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_greedy_stops_when_nothing_helps():
    """On a blank target every stroke makes things worse: the program stays empty."""
    white = np.ones((64, 64, 3), np.float32)
    assert greedy_actions(white, seed=0, steps=5, candidates=16, polish=0) == []


def test_greedy_actions_decode_to_the_program_greedy_returns(line_target):
    actions = greedy_actions(line_target, seed=1, steps=4, candidates=16, polish=0)
    assert greedy(line_target, seed=1, steps=4, candidates=16, polish=0) == Program.from_actions(SPEC, actions)
    # every statement carries only its own slots
    assert all(set(a) == set(SPEC.used_slots(a["flag"])) for a in actions)


def test_tails_are_scored_from_the_prefix_state_as_full_renders_are(line_target):
    """try_tails continues every tail from the prefix's canvas, pen and brush state: its score
    equals rendering prefix + tail from scratch."""
    prefix_actions = [{"flag": 0, "end": 100}, {"flag": 1, "end": 300, "control": 200, "size": 2,
                                                "pressure": 9, "red": 0, "green": 0, "blue": 0}]
    tails = [[{"flag": 1, "end": 700, "control": 500, "size": 1, "pressure": 7, "red": 3, "green": 0, "blue": 0}],
             [{"flag": 0, "end": 900}, {"flag": 1, "end": 20, "control": 40, "size": 3, "pressure": 5,
                                        "red": 0, "green": 5, "blue": 0}],
             [{"flag": 1, "end": 1000, "control": 600, "size": 0, "pressure": 9, "red": 0, "green": 0, "blue": 9}]]
    target = _target_tensor(line_target)
    prefix = _Prefix(SPEC)
    prefix.extend(prefix_actions)
    scores = prefix.try_tails(tails, target)
    for tail, score in zip(tails, scores):
        full = render_actions(SPEC, [prefix_actions + tail])
        assert float(score) == pytest.approx(float(_mse(full, target)[0]), abs=1e-6)


def test_refine_never_worsens_and_tail_replay_equals_full_render():
    """Refinement replays only the tail after a changed statement from a stored prefix state:
    that must paint exactly what rendering the whole program paints."""
    images, _ = load_set("mnist-eval")
    target = images[450]
    start = greedy(target, seed=1, steps=6, candidates=16, polish=0)
    refined = refine(start, target, seconds=0.5, seed=2)
    before, after = (float(np.mean((p.render() - target) ** 2)) for p in (start, refined))
    assert after <= before
    spec = ActionSpec.for_domain("paint", start.settings)
    full = [{s: a.get(s, 0) for s in spec.order} for a in start.to_actions(spec, snap=True)]
    prefix = _Prefix(spec)
    states = [prefix.one.state()]
    for a in full:
        prefix._step(prefix.one, [a])
        states.append(prefix.one.state())
    whole = render_actions(spec, [full])[0]
    for i in range(len(full)):
        canvases = prefix.open(3)
        canvases.load_state(take_rows(states[i], [0] * 3))
        for a in full[i:]:
            prefix._step(canvases, [a] * 3)
        assert torch.allclose(canvases.image(), whole[None].expand(3, -1, -1, -1), atol=1e-6)


def test_refine_of_an_empty_program_is_that_program(line_target):
    empty = Program.from_statements([], "paint")
    assert refine(empty, line_target, seconds=0.1) is empty


# --- descend: the learned search finds a short program's target exactly ---

#: a digit-like stroke on the action grid (every argument an action's value)
ONE_STROKE = Program.parse("paint\nmove to (16, 12)\n"
                           "stroke via (32, 40) to (48, 50) pressure 0.8 size 2 color #000000\n")


def test_the_learned_search_finds_a_one_stroke_target_exactly():
    """The target is a one-stroke program's raster render. The shipped policy's beam proposes
    two-statement programs, the fit moves them off the grid towards the target, and the grid
    descent lands on the program itself: error 0, the same statements."""
    from synth.beam import beam_search
    from synth.fit import fit
    from synth.synthesize import load_policy
    from synth.tidy import merge_moves
    policy, _ = load_policy(None)
    target = ONE_STROKE.render(backend="raster")
    found, _ = beam_search(policy, target, expand=16, steps=2, seed=1)
    fitted, errors = fit([merge_moves(p) for p in found], target, steps=40)
    before = float(np.min(errors))
    results = [descend(fitted[j], target, seconds=60) for j in np.argsort(errors)]
    program, error = min(results, key=lambda r: r[1])
    assert before > 1e-5 and error < 1e-12     # the fit alone is near, not there
    assert program.to_actions(SPEC) == ONE_STROKE.to_actions(SPEC)


def test_descend_never_worsens_is_deterministic_and_keeps_metadata():
    images, _ = load_set("mnist-eval")
    target = images[450]
    start = greedy(target, seed=1, steps=3, candidates=16, polish=0).with_metadata(source="greedy")
    snapped = Program.from_actions(SPEC, start.to_actions(SPEC, snap=True))
    first = float(np.mean((snapped.render(backend="raster") - target) ** 2))
    program, error = descend(start, target, seconds=60)
    again, same = descend(start, target, seconds=60)
    assert error <= first + 1e-7 and error == same and program == again
    assert program.metadata["source"] == "greedy"
    assert error == pytest.approx(float(np.mean((program.render(backend="raster") - target) ** 2)), abs=1e-6)
    empty = Program.from_statements([], "paint")
    assert descend(empty, target, seconds=1)[0] == empty


@pytest.mark.parametrize("program, seconds, message", [
    (Program.parse("scene\nplace cube at (1, 2) size small color #ff0000"), 1, "paint Program"),
    (ONE_STROKE, 0, "seconds=0 must be > 0"),
    (ONE_STROKE, True, "seconds=True"),
])
def test_descend_rejects_bad_input(program, seconds, message):
    from spiral_dsl import SplError
    with pytest.raises(SplError, match=message):
        descend(program, ONE_STROKE.render(backend="raster"), seconds=seconds)
