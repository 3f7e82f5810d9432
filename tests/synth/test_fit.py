"""synth.fit: a program's arguments fitted to a target through the differentiable raster."""
import numpy as np
import pytest

from spiral_dsl import Program
from spiral_dsl.ast import Move, Stroke
from spiral_dsl.errors import SplRangeError, SplTypeError
from synth.fit import MAX_FIT_BATCH, fit

TRUTH = Program.parse("paint\nmove to (10.3, 12.6)\n"
                      "stroke via (30.2, 50.4) to (52.7, 20.1) pressure 0.8 size 3.1 color #202020\n"
                      "stroke via (40.5, 8.8) to (20.4, 30.3) pressure 0.7 size 2.2 color #404040\n")
# the same statements off by about 2 canvas units and a few levels: what a search on a grid finds
NEAR = Program.parse("paint\nmove to (12, 12)\n"
                     "stroke via (32, 48) to (50, 22) pressure 0.9 size 2.5 color #303030\n"
                     "stroke via (42, 10) to (22, 28) pressure 0.6 size 2 color #303030\n")


def _raster_mse(program: Program, target: np.ndarray) -> float:
    return float(np.mean((program.render(backend="raster") - target) ** 2))


def test_fit_recovers_a_target_drawn_by_a_nearby_program():
    target = TRUTH.render(backend="raster")
    (fitted,), errors = fit([NEAR], target, steps=60)
    before = _raster_mse(NEAR, target)
    assert errors[0] == pytest.approx(_raster_mse(fitted, target), abs=2e-5)   # the printed program's
    assert errors[0] < 0.25 * before
    moved = [abs(a.to.x - b.to.x) + abs(a.to.y - b.to.y) for a, b in zip(fitted, TRUTH)]
    start = [abs(a.to.x - b.to.x) + abs(a.to.y - b.to.y) for a, b in zip(NEAR, TRUTH)]
    assert sum(moved) < 0.5 * sum(start)


def test_statements_metadata_and_header_are_kept_and_the_output_prints_and_parses():
    target = TRUTH.render(backend="raster")
    near = NEAR.with_metadata(source="search")
    (fitted,), _ = fit([near], target, steps=5)
    assert [type(s) for s in fitted] == [Move, Stroke, Stroke]
    assert fitted.settings == near.settings and dict(fitted.metadata) == {"source": "search"}
    assert Program.parse(str(fitted)) == fitted          # rounded as printed: nothing lost
    for s in fitted:
        assert round(s.to.x, 1) == s.to.x and round(s.to.y, 1) == s.to.y
        if isinstance(s, Stroke):
            assert s.color.hex() is not None and 0 < s.size and 0 <= s.pressure <= 1


def test_never_worse_on_the_raster_than_the_rounded_input_and_zero_steps_is_rounding():
    target = TRUTH.render(backend="raster")
    (rounded,), zero = fit([NEAR], target, steps=0)
    assert rounded == NEAR                                # on the grid already: rounding is exact
    (fitted,), errors = fit([NEAR], target, steps=3)
    assert errors[0] <= zero[0]


def test_a_batch_of_programs_of_different_lengths_matches_fitting_each_alone():
    target = TRUTH.render(backend="raster")
    short = NEAR[:2]
    together, errors = fit([NEAR, short], target, steps=8)
    (alone,), alone_errors = fit([short], target, steps=8)
    assert len(together[1]) == 2 and together[1] == alone
    assert errors[1] == pytest.approx(alone_errors[0], abs=1e-6)


def test_programs_without_strokes_come_back_as_they_are():
    target = TRUTH.render(backend="raster")
    moves = Program.parse("paint\nmove to (10, 12)\nmove to (30.5, 40)\n")
    (fitted,), errors = fit([moves], target, steps=5)
    assert fitted == moves and errors[0] == pytest.approx(_raster_mse(moves, target), abs=1e-6)
    (empty,), _ = fit([Program.parse("paint\n")], target, steps=5)
    assert len(empty) == 0


def test_deterministic():
    target = TRUTH.render(backend="raster")
    assert fit([NEAR], target, steps=6) [0] == fit([NEAR], target, steps=6)[0]


def test_a_deadline_stops_early_with_a_valid_result():
    target = TRUTH.render(backend="raster")
    (fitted,), errors = fit([NEAR], target, steps=10_000, seconds=0.05)
    assert errors[0] <= _raster_mse(NEAR, target) + 1e-6 and len(fitted) == 3


def test_bad_input_is_a_clear_error():
    target = TRUTH.render(backend="raster")
    assert fit([], target) == ([], pytest.approx(np.zeros(0)))
    with pytest.raises(SplRangeError, match="steps=-1 must be an integer >= 0"):
        fit([NEAR], target, steps=-1)
    with pytest.raises(SplRangeError, match="seconds=0 must be > 0"):
        fit([NEAR], target, seconds=0)
    with pytest.raises(SplRangeError, match=f"at most {MAX_FIT_BATCH}"):
        fit([NEAR] * (MAX_FIT_BATCH + 1), target)
    with pytest.raises(SplRangeError, match=r"target of shape \(64, 64\)"):
        fit([NEAR], target[..., 0])
    with pytest.raises(SplRangeError, match="NaN or infinite"):
        fit([NEAR], np.full_like(target, np.nan))
    with pytest.raises(SplRangeError, match="seconds='1' must be > 0"):
        fit([NEAR], target, seconds="1")
    with pytest.raises(SplTypeError, match="one header"):
        fit([NEAR, Program.parse("paint canvas=32\nmove to (1, 1)\n")], target)
    with pytest.raises(SplTypeError, match="paint programs; got a scene"):
        fit([Program.parse("scene\n")], target)


def test_synthesize_beam_fit_is_verified_and_no_worse_than_the_beam():
    from synth.synthesize import synthesize
    target = TRUTH.render()                                # libmypaint
    beam = synthesize(target, method="beam", samples=4, episode_length=6)
    fitted = synthesize(target, method="beam+fit", samples=4, episode_length=6, budget=10)
    assert fitted.metadata["method"] == "beam+fit"
    rendered = float(np.mean((fitted.render() - target) ** 2))
    assert float(fitted.metadata["mse"]) == pytest.approx(rendered, abs=2e-6)
    # the fit is kept only when libmypaint agrees; tidy may then give back up to its tolerance
    assert float(fitted.metadata["mse"]) <= float(beam.metadata["mse"]) + 1e-4
    assert fitted == synthesize(target, method="beam+fit", samples=4, episode_length=6, budget=10)


def test_synthesize_seconds_is_an_anytime_budget_of_beam_fit_only():
    from synth.synthesize import synthesize
    target = TRUTH.render()
    program = synthesize(target, method="beam+fit", samples=4, episode_length=6, seconds=0.5)
    assert program.metadata["method"] == "beam+fit"
    # the fit stops in time: the beam, the verification and tidy are what is left
    assert float(program.metadata["seconds"]) < 0.5 + 1.5
    with pytest.raises(SplRangeError, match="seconds=1 is the time budget of method='beam\\+fit'"):
        synthesize(target, method="beam", seconds=1)
    with pytest.raises(SplRangeError, match="seconds=-1 must be a number > 0"):
        synthesize(target, method="beam+fit", seconds=-1)
