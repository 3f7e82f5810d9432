"""spiral_dsl.lower: lowering evaluates sugar into core statements, range-checks values where
they are computed, and bounds its work (statements, loop iterations and expression nodes)."""
import math
import time

import pytest
from hypothesis import given, settings

from spiral_dsl import Program, SplLimitError
from spiral_dsl import ast as A
from spiral_dsl.limits import LIMITS
from spiral_dsl.lower import check_render_cost, expression_size, painted_area_of
from spiral_dsl.parser import parse
from spiral_dsl.testing import programs

EXAMPLE = """paint canvas=64
let ink = #1a1a1a
def tick(at: Point, h: Num) {
  move to at
  stroke to at + (0, h) pressure 0.6 size 1 color ink
}
repeat k in 0..5 {
  tick((8 + 10 * k, 20), 12 + 2 * k)
}
"""


@settings(max_examples=100)
@given(programs())
def test_lower_is_idempotent_and_core(p):
    core = p.lower()
    assert core.is_core
    assert core.lower() == core
    assert list(core) == list(p)
    assert Program.parse(str(core)) == core


def test_spec_example_lowers_to_ten_statements_and_prints():
    p = Program.parse(EXAMPLE)
    assert len(p) == 10
    assert str(p) == EXAMPLE
    lowered = p.lower()
    assert str(lowered).splitlines()[1:3] == [
        "move to (8, 20)", "stroke via (8, 26) to (8, 32) pressure 0.6 size 1 color #1a1a1a"]


def test_straight_stroke_controls_at_midpoint_from_pen():
    p = Program.parse("paint\nstroke to (10, 20) pressure 1 size 1 color #000000\n"
                      "stroke to (30, 20) pressure 1 size 1 color #000000")
    assert (p[0].via.x, p[0].via.y) == (5, 10)  # pen starts at (0, 0)
    assert (p[1].via.x, p[1].via.y) == (20, 20)


def test_expression_size_counts_every_node():
    _, body, _ = parse("paint\nlet a = lerp((1, 2), (3, 4) * 2, -0.5)")
    # lerp, (1,2), 1, 2, *, (3,4), 3, 4, 2, -0.5 (a folded literal)
    assert expression_size(body[0].value) == 10
    assert expression_size(A.Number(1.0)) == 1


# ----------------------------------------------------------------------------- work
def _chain(n: int, term: str = "i") -> str:
    """n terms, nested at most 10 deep: (i+i+...+i) * ... in groups of 10."""
    groups = [" + ".join([term] * min(10, n - k)) for k in range(0, n, 10)]
    return " + ".join(f"({g})" for g in groups)


def test_expression_evaluation_counts_against_the_work_limit_before_looping():
    # repeat i in 0..99999 { let a = i+i+... (250 terms) } kept `spiral check` busy for 54 s:
    # the work limit counted statements, not expression evaluations
    text = f"paint\nrepeat i in 0..99999 {{\n  let a = {_chain(250)}\n}}"
    t0 = time.perf_counter()
    with pytest.raises(SplLimitError, match=rf"99,999 iterations × \d+ steps = [\d,]+ steps of "
                                            rf"work, more than work={LIMITS.work:,}") as info:
        Program.parse(text, filename="w.spl")
    assert time.perf_counter() - t0 < 1.0  # refused before the first iteration
    assert (info.value.line, info.value.column) == (2, 1)


def test_work_in_calls_and_nested_loops_is_counted_as_it_runs():
    # a loop's static cost cannot see a call's body or an inner loop's iterations: those are
    # counted as they run, and the limit stops them
    text = ("paint\ndef f(x: Num) {\n  let a = " + _chain(60, "x") + "\n}\n"
            "repeat i in 0..30000 {\n  f(i)\n}")
    with pytest.raises(SplLimitError, match=f"more than work={LIMITS.work:,}") as info:
        Program.parse(text, filename="w.spl")
    assert info.value.line == 3
    with pytest.raises(SplLimitError, match="work="):
        Program.parse("paint\nrepeat i in 0..2000 {\n  repeat j in 0..1000 { }\n}")


def test_work_is_counted_exactly_and_the_limit_is_inclusive():
    # the repeat statement: 1 + its two bounds = 3; each iteration: 1 + the let (1 + `i + i`,
    # three nodes) = 5
    n = (LIMITS.work - 3) // 5
    assert len(Program.parse(f"paint\nrepeat i in 0..{n} {{\n  let a = i + i\n}}")) == 0
    with pytest.raises(SplLimitError, match=f"{n + 1:,} iterations × 5 steps"):
        Program.parse(f"paint\nrepeat i in 0..{n + 1} {{\n  let a = i + i\n}}")


def test_calls_nested_past_the_limit_are_a_limit_error():
    # each def calls the previous one: lexically flat, but lowering recursed once per call
    defs = ["def f0() { move to (1, 1) }"] + [
        f"def f{k}() {{ f{k - 1}() }}" for k in range(1, LIMITS.nesting + 5)]
    text = "paint\n" + "\n".join(defs) + f"\nf{LIMITS.nesting + 4}()"
    with pytest.raises(SplLimitError, match=f"calls nested deeper than nesting={LIMITS.nesting}"):
        Program.parse(text)
    ok = "paint\n" + "\n".join(defs[:LIMITS.nesting]) + f"\nf{LIMITS.nesting - 1}()"
    assert len(Program.parse(ok)) == 1


def test_core_statement_limit_names_the_limit():
    with pytest.raises(SplLimitError, match="core_statements=100,000") as info:
        Program.parse("paint\nrepeat i in 0..100001 {\n  move to (1, 1)\n}")
    assert info.value.line == 3


def test_painted_area_is_bounded_while_lowering():
    # canvas=4096 with full-size strokes cost 7.5 s per stroke to render
    with pytest.raises(SplLimitError, match="paint_area=") as info:
        Program.parse("paint canvas=4096\nrepeat i in 0..20 {\n  stroke via (4096, 0) to "
                      "(4096, 4096) pressure 1 size 1024 color #000000\n}", filename="a.spl")
    assert info.value.line == 3
    # what a synthesizer writes (hundreds of strokes on canvas 64) is far below it
    p = Program.parse("paint\nrepeat i in 0..1000 {\n  stroke via (64, 0) to (64, 64) pressure 1 "
                      "size 8 color #000000\n}")
    assert len(p) == 1000


def test_render_cost_is_known_before_the_render_loop():
    p = Program.parse("paint canvas=64\nmove to (0, 32)\nstroke via (32, 32) to (64, 32) "
                      "pressure 1 size 2 color #000000")
    assert painted_area_of(p) == pytest.approx(64 * 4 + math.pi * 4)
    check_render_cost(list(p), p.settings, None)
    check_render_cost(list(p), p.settings, 4096)  # 64× the canvas: about 1.1e6 square pixels
    big = Program.parse("paint canvas=64\nstroke via (64, 0) to (64, 64) pressure 1 size 64 "
                        "color #000000")
    with pytest.raises(SplLimitError, match=r"at 4096×4096 px .* more than paint_area="):
        check_render_cost(list(big), big.settings, 4096)
