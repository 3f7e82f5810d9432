"""The action space: derived from core statements; statement ↔ action laws."""
import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiral_dsl import Program, SplRangeError, SplTypeError
from spiral_dsl.actions import ActionSpec
from spiral_dsl.ast import Color, Move, Point, Stroke
from spiral_dsl.testing import statements

PAINT = ActionSpec.for_domain("paint")
SCENE = ActionSpec.for_domain("scene")


def test_paint_slots_match_spiral():
    assert PAINT.sizes == {"flag": 2, "end": 1024, "control": 1024, "size": 6, "pressure": 10,
                           "red": 20, "green": 20, "blue": 20}
    assert PAINT.order == ("flag", "end", "control", "size", "pressure", "red", "green", "blue")
    assert PAINT.slots["pressure"].values[0] == pytest.approx(0.1)
    assert PAINT.slots["pressure"].values[-1] == pytest.approx(1.0)
    assert PAINT.slots["size"].values == (1, 2, 4, 8, 12, 24)
    assert ActionSpec.for_domain("paint", {"canvas": 128}).slots["size"].values == (2, 4, 8, 16, 24, 48)
    assert PAINT.used_slots("move") == ("flag", "end")
    assert PAINT.mask(1) == {s: True for s in PAINT.order}


def test_scene_slots_match_spiral():
    assert SCENE.sizes == {"shape": 4, "cell": 256, "size": 3, "red": 4, "green": 4, "blue": 4}


def test_location_is_row_major():
    a = PAINT.encode(Move(Point(6, 2)))  # col 3, row 1 on a 32 grid with step 2
    assert a == {"flag": 0, "end": 1 * 32 + 3}


def test_custom_order_and_cycles():
    spec = ActionSpec.for_domain("paint", order=[("flag", "end"), ("flag", "red"), ("red", "control")])
    assert spec.order.index("red") < spec.order.index("control")
    assert spec.parents("control") == ["red"]
    with pytest.raises(SplTypeError, match="cycle"):
        ActionSpec.for_domain("paint", order=[("end", "control"), ("control", "end")])
    with pytest.raises(SplTypeError, match="unknown slot"):
        ActionSpec.for_domain("paint", order=[("end", "wobble")])
    g = nx.DiGraph([("flag", "end")])
    assert ActionSpec.for_domain("paint", order=g).parents("end") == ["flag"]


@settings(max_examples=300)
@given(st.sampled_from(["paint", "scene"]).flatmap(lambda d: statements(d, on_grid=True).map(lambda s: (d, s))))
def test_decode_encode_is_identity_on_grid(domain_and_statement):
    domain, s = domain_and_statement
    spec = PAINT if domain == "paint" else SCENE
    s = spec.decode(spec.encode(s, snap=True))  # generated colours/pressures are snapped first
    assert spec.decode(spec.encode(s)) == s


@settings(max_examples=300)
@given(st.data())
def test_encode_decode_is_identity_on_used_slots(data):
    spec = data.draw(st.sampled_from([PAINT, SCENE]))
    action = {s: data.draw(st.integers(0, spec.slots[s].n - 1)) for s in spec.order}
    used = spec.used_slots(action.get("flag"))
    assert spec.encode(spec.decode(action)) == {s: action[s] for s in used}


def test_off_grid_values_are_errors_unless_snapped():
    s = Stroke(Point(3.1, 4), Point(8, 8), 0.5, 4, Color(0, 0, 0))
    with pytest.raises(SplRangeError, match="nearest is"):
        PAINT.encode(s)
    assert PAINT.decode(PAINT.encode(s, snap=True)).to == Point(4, 4)
    with pytest.raises(SplRangeError, match=r"out of range \[0, 1023\]"):
        PAINT.decode({"flag": 0, "end": 5000})
    with pytest.raises(SplRangeError, match="lacks slot"):
        PAINT.decode({"flag": 1, "end": 3})


def test_program_round_trip_through_actions():
    p = Program.parse("paint\nmove to (4, 6)\nstroke via (8, 8) to (10, 12) pressure 0.5 size 4 "
                      "color rgb(0, 1, 0)")
    assert Program.from_actions(PAINT, p.to_actions()) == p
    scene = Program.parse("scene\nplace cube at (3, 4) size large color #ff0000")
    assert Program.from_actions(SCENE, scene.to_actions()) == scene
