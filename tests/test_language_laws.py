"""Laws of the language, on generated programs (core and sugar, both domains)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiral_dsl import Program, SplNameError
from spiral_dsl.parser import parse, parse_with_lark
from spiral_dsl.testing import programs, statements

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


@settings(max_examples=200)
@given(programs())
def test_parse_print_is_identity(p):
    text = str(p)
    assert Program.parse(text) == p
    assert str(Program.parse(text)) == text  # printing is idempotent


@settings(max_examples=200)
@given(programs())
def test_json_round_trip(p):
    assert Program.from_json(p.to_json()) == p
    assert Program.from_json(p.to_json_text()) == p


@settings(max_examples=100)
@given(programs())
def test_lower_is_idempotent_and_core(p):
    core = p.lower()
    assert core.is_core
    assert core.lower() == core
    assert list(core) == list(p)
    assert Program.parse(str(core)) == core


@settings(max_examples=100)
@given(programs(core_only=True))
def test_fast_path_agrees_with_lark(p):
    text = str(p)
    fast_header, fast_body, _ = parse(text)
    lark_header, lark_body, _ = parse_with_lark(text)
    assert fast_header == lark_header
    assert fast_body == lark_body
    assert [(s.span.line, s.span.column) for s in fast_body] == \
           [(s.span.line, s.span.column) for s in lark_body]


@settings(max_examples=50)
@given(programs(core_only=True), st.data())
def test_editing_returns_checked_programs(p, data):
    s = data.draw(statements(p.domain, p.settings))
    if p.domain == "scene" and len(p) >= p.settings["objects"]:
        return
    i = data.draw(st.integers(0, len(p)))
    q = p.insert(i, s)
    assert len(q) == len(p) + 1 and q[i] == s
    assert q.delete(i) == p
    if len(p):
        j = data.draw(st.integers(0, len(p) - 1))
        r = p.replace(j, s)
        assert r[j] == s and len(r) == len(p)


def test_spec_example_lowers_to_ten_statements_and_prints():
    p = Program.parse(EXAMPLE)
    assert len(p) == 10
    assert str(p) == EXAMPLE
    lowered = p.lower()
    assert str(lowered).splitlines()[1:3] == [
        "move to (8, 20)", "stroke via (8, 26) to (8, 32) pressure 0.6 size 1 color #1a1a1a"]


def test_every_documented_form_is_accepted():
    text = """// comment line
paint canvas=64 grid=32 brush="classic/dry_brush" background=#FFFFFF  // trailing comment
let a = 12
let b = -3
let c = 0.25
let d = .5
let p = (10, 20)
let q = p + (1, 1) - (2, 2) * 0.5
let r = 2 * p / 4
let s = -(a + b) * c / d
let col = rgb(0.1, 0.2, 0.3)
let m = mix(col, #00ff00, 0.5)
let l = lerp(p, (30, 40), 0.25)
let n = lerp(1, 2, 0.5)
def dot(at: Point, w: Num, k: Color) {
  move to at
  stroke to at pressure 1 size w color k
}
dot(l, n, m)
repeat i in 0..3 {
  stroke via (i, 1) to (i + 1, 2) pressure c size 1 color col
}
move to (0, 0)
"""
    p = Program.parse(text)
    assert p.settings == {"canvas": 64, "grid": 32, "brush": "classic/dry_brush",
                          "background": p.settings["background"]}
    assert len(p) == 6
    scene = Program.parse("scene canvas=64 grid=16 objects=5\n"
                          "place sphere at (1, 2) size small color #123456\n"
                          "place cube at (3, 4) size medium color rgb(1, 0, 0.5)\n"
                          "place cylinder at (5, 6) size large color #ABCDEF\n"
                          "place capsule at (7, 8) size small color #000000\n")
    assert [s.shape for s in scene] == ["sphere", "cube", "cylinder", "capsule"]


def test_defaults_fill_omitted_settings():
    assert Program.parse("paint").settings["grid"] == 32
    assert Program.parse("scene").settings == {"canvas": 64, "grid": 16, "objects": 5}


def test_straight_stroke_controls_at_midpoint_from_pen():
    p = Program.parse("paint\nstroke to (10, 20) pressure 1 size 1 color #000000\n"
                      "stroke to (30, 20) pressure 1 size 1 color #000000")
    assert (p[0].via.x, p[0].via.y) == (5, 10)  # pen starts at (0, 0)
    assert (p[1].via.x, p[1].via.y) == (20, 20)


def test_value_semantics_and_graph():
    p = Program.parse(EXAMPLE)
    q = Program.parse(EXAMPLE.replace("\n", "\n\n"))
    assert p == q and hash(p) == hash(q)
    assert p != p.lower()
    g = p.graph()
    assert g.number_of_nodes() == 10 and g.number_of_edges() == 0
    joined = Program.parse("paint\nmove to (1, 1)\nstroke to (2, 2) pressure 1 size 1 color #000000\n"
                           "stroke to (3, 3) pressure 1 size 1 color #000000")
    assert list(joined.graph().edges) == [(1, 2)]
    scene = Program.parse("scene\nplace cube at (1, 1) size small color #000000\n"
                          "place cube at (2, 2) size small color #000000\n"
                          "place cube at (9, 9) size small color #000000")
    assert set(scene.graph().edges) == {(0, 1), (1, 0)}


def test_add_and_slicing():
    p = Program.parse(EXAMPLE)
    with pytest.raises(SplNameError):  # sugar bodies join, so the second `let ink` clashes
        p + p
    core = p.lower()
    both = core + core
    assert len(both) == 20 and both[:10] == core and both[10:] == core
    assert isinstance(core[0], type(core[2]))


def test_metadata_survives_save_and_load(tmp_path):
    p = Program.parse(EXAMPLE).lower().with_metadata(score="0.0123", checkpoint="mnist.pt")
    path = tmp_path / "x.spl"
    p.save(path)
    q = Program.load(path)
    assert q == p and q.metadata == {"score": "0.0123", "checkpoint": "mnist.pt"}
    p.save(tmp_path / "x.json")
    assert Program.load(tmp_path / "x.json").metadata["score"] == "0.0123"


def test_importing_the_language_loads_no_heavy_modules():
    import subprocess
    import sys
    code = ("import sys, spiral_dsl; from spiral_dsl import Program, synthesize; "
            "print(sorted(m for m in ('torch','ray','mujoco','gymnasium') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
