"""Laws of Program as a whole, on generated programs (core and sugar, both domains): editing,
value semantics, joining, metadata, a light import. The laws of each stage live beside it:
tests/test_parser.py, test_checker.py, test_lower.py, test_printer.py, test_json_io.py."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiral_dsl import Program, SplNameError
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
