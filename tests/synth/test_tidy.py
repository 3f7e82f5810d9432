"""synth.tidy: readable programs (hex colours, no move runs, no useless statements) whose
real libmypaint render stays within the tolerance of the input's MSE."""
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiral_dsl import Program
from spiral_dsl import ast as A
from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplRangeError, SplTypeError
from spiral_dsl.testing import programs
from synth.tidy import TOLERANCE, merge_moves, snap_colors, tidy


def mse(a, b) -> float:
    return float(np.mean((np.asarray(a, np.float32) - np.asarray(b, np.float32)) ** 2))


def moves_in_a_row(program) -> int:
    s = list(program)
    return sum(isinstance(a, A.Move) and isinstance(b, A.Move) for a, b in zip(s, s[1:]))


INK = "stroke via (20, 30) to (44, 40) pressure 0.9 size 3 color #101010\n"
INK2 = "stroke via (40, 10) to (30, 52) pressure 0.8 size 2 color #303030\n"
RUNS = ("move to (0, 0)\nmove to (50, 50)\nmove to (8, 8)\nmove to (10, 20)\n" + INK
        + "move to (60, 2)\nmove to (36, 8)\n" + INK2 + "move to (5, 5)\nmove to (7, 9)\n")
MERGED = "move to (10, 20)\n" + INK + "move to (36, 8)\n" + INK2


def test_merge_moves_keeps_the_last_move_of_each_run_and_the_raster_image():
    p = Program.parse("paint\n" + RUNS)
    merged = merge_moves(p)
    assert merged == Program.parse("paint\n" + MERGED)
    assert moves_in_a_row(merged) == 0
    # the pen's path is the same: on the raster backend the image is identical
    assert np.array_equal(merged.render(backend="raster"), p.render(backend="raster"))


def test_a_dropped_move_rerolls_the_dry_brush_texture_on_libmypaint():
    # why tidy verifies even the merge: each move draws one number from the brush's random
    # generator, which classic/dry_brush uses for every later dab
    p = Program.parse("paint\n" + RUNS)
    assert not np.array_equal(merge_moves(p).render(), p.render())


def test_tidy_merges_move_runs_without_changing_the_image():
    # classic/pen uses no random input: the merged program draws the same image but for a few
    # pixels one fix15 step (2^-15) apart
    p = Program.parse('paint brush="classic/pen"\n' + RUNS)
    out = tidy(p, p.render(), tolerance=1e-9)
    assert out == Program.parse('paint brush="classic/pen"\n' + MERGED)
    assert mse(out.render(), p.render()) < 1e-9


def test_an_invisible_stroke_is_removed():
    visible = Program.parse("paint\nmove to (10, 20)\n" + INK)
    white = "move to (50, 4)\nstroke via (56, 10) to (60, 20) pressure 1 size 2 color #ffffff\n"
    p = Program.parse("paint\nmove to (10, 20)\n" + INK + white)   # white on white paper
    out = tidy(p, visible.render(), tolerance=0)
    assert out == visible
    assert mse(out.render(), visible.render()) == 0


def test_an_invisible_stroke_between_visible_ones_is_removed():
    # classic/pen: removing a stroke does not change the later ones, so tolerance 0 suffices
    head = 'paint brush="classic/pen"\nmove to (10, 20)\n' + INK
    white = "move to (50, 4)\nstroke via (56, 10) to (60, 20) pressure 1 size 2 color #ffffff\n"
    tail = "move to (36, 8)\n" + INK2
    target = Program.parse(head + tail)
    out = tidy(Program.parse(head + white + tail), target.render(), tolerance=0)
    assert out == target


def test_visible_strokes_are_kept():
    p = Program.parse("paint\nmove to (10, 20)\n" + INK + "move to (36, 8)\n" + INK2)
    assert tidy(p, p.render()) == p


def test_colours_become_8_bit_hex_and_still_encode_as_the_same_actions():
    spec = ActionSpec.for_domain("paint")
    rng = random.Random(3)
    actions = [{slot: rng.randrange(n) for slot, n in spec.sizes.items()} for _ in range(6)]
    actions[0]["flag"] = 1   # at least one stroke
    p = Program.from_actions(spec, actions)
    assert "rgb(" in str(p)   # k / 19 is not exact at 8 bits
    snapped = snap_colors(p)
    assert "rgb(" not in str(snapped) and "#" in str(snapped)
    assert snapped.to_actions(snap=True) == p.to_actions()
    # tidy snaps too: the change to the image is far below the default tolerance
    assert "rgb(" not in str(tidy(p, p.render()))


def test_header_and_metadata_are_kept_and_the_score_describes_the_result():
    p = Program.parse('// @method: greedy\n// @mse: 0.5\n// @seed: 7\n'
                      'paint canvas=64 grid=16 brush="classic/pen"\n' + RUNS)
    target = Program.parse("paint\nmove to (10, 20)\n" + INK).render()
    out = tidy(p, target)
    assert out.header == p.header
    assert dict(out.metadata) == {"method": "greedy", "mse": f"{mse(out.render(), target):.6f}",
                                  "seed": "7"}
    plain = Program(p.header, list(p), metadata={"note": "x"})
    assert dict(tidy(plain, target).metadata) == {"note": "x"}


@settings(max_examples=30)
@given(programs(domain="paint", max_statements=8), st.sampled_from([0.0, TOLERANCE, 1e-3]))
def test_tidy_never_raises_the_mse_beyond_the_tolerance(program, tolerance):
    # the target is the first half of the program: the rest is more or less superfluous
    target = program[: len(program) // 2].render()
    out = tidy(program, target, tolerance=tolerance)
    assert mse(out.render(), target) <= mse(program.render(), target) + tolerance
    assert len(out) <= len(program) and out.header == program.header
    assert out.is_core
    # removing a stroke between moves takes the moves before it too: no new run of moves
    assert moves_in_a_row(out) <= moves_in_a_row(program.lower())


def test_tidy_is_deterministic():
    spec = ActionSpec.for_domain("paint")
    rng = random.Random(11)
    p = Program.from_actions(spec, [{slot: rng.randrange(n) for slot, n in spec.sizes.items()}
                                    for _ in range(12)])
    target = p[:5].render()
    a, b = tidy(p, target), tidy(p, target)
    assert a == b and str(a) == str(b)
    assert len(a) < len(p)


def test_refuses_what_it_cannot_tidy():
    p = Program.parse("paint\nmove to (10, 20)\n" + INK)
    with pytest.raises(SplTypeError, match="paint domain"):
        tidy(Program.parse("scene\nplace cube at (1, 2) size small color #ff0000"), p.render())
    with pytest.raises(SplRangeError, match=r"target shape \(32, 32, 3\)"):
        tidy(p, np.ones((32, 32, 3), np.float32))
    with pytest.raises(SplRangeError, match="tolerance=-1"):
        tidy(p, p.render(), tolerance=-1)
    with pytest.raises(SplRangeError, match=r"\[0, 1\]"):
        tidy(p, p.render() * 2)
    with pytest.raises(SplTypeError, match="Program"):
        tidy(str(p), p.render())


def test_removal_estimates_are_exact_for_strokes_nothing_else_touches():
    """The screen's estimate (one render with intermediate images) equals the real MSE rise
    of removing a stroke that no later statement paints over (raster backend: exact)."""
    from synth.tidy import _removal_estimates
    apart = ("move to (4, 4)\nstroke via (8, 20) to (12, 40) pressure 0.9 size 3 color #101010\n"
             "move to (40, 4)\nstroke via (50, 20) to (56, 40) pressure 0.8 size 2 color #303030\n")
    p = Program.parse("paint\n" + apart)
    target = np.ones((64, 64, 3), np.float32)   # white paper: every stroke is an error
    target[40:, :, :] = 0.2                     # and somewhere neither stroke reaches
    estimates = _removal_estimates(p, target, "raster")
    base = mse(p.render(backend="raster"), target)
    statements = list(p)
    for k in (1, 3):
        without = Program(p.header, statements[:k] + statements[k + 1:])
        rise = mse(without.render(backend="raster"), target) - base
        assert estimates[k] == pytest.approx(rise, abs=1e-6)
        assert estimates[k] < 0                 # white on white would be better: removing helps
    assert estimates[0] == estimates[2] == 0    # moves draw nothing themselves
    # on coloured paper the pixels go back to the paper's colour, not to white
    tinted = Program.parse("paint background=#c0d0e0\n" + apart)
    estimates = _removal_estimates(tinted, target, "raster")
    without = Program(tinted.header, list(tinted)[:3])
    rise = mse(without.render(backend="raster"), target) - mse(tinted.render(backend="raster"), target)
    assert estimates[3] == pytest.approx(rise, abs=1e-6)


def test_a_known_score_saves_the_first_render_and_gives_the_same_result():
    p = Program.parse("paint\n" + RUNS)
    target = np.ones((64, 64, 3), np.float32)
    target[20:40, 10:50] = 0.1
    score = mse(p.render(), target)
    assert tidy(p, target, score=score) == tidy(p, target)
    with pytest.raises(SplRangeError, match="not the program's render shape"):
        tidy(p, target[:32], score=score)    # the target is still checked
