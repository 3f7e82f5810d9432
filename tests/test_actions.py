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


# ------------------------------------------------------------------ batched values
@pytest.mark.parametrize("spec", [PAINT, SCENE], ids=["paint", "scene"])
@given(data=st.data())
@settings(max_examples=20)
def test_values_of_actions_decode_to_the_statements_exactly(spec, data):
    """values_of (numpy and torch) and statements_of_values invert to spec.decode, with the
    action grid's exact floats; values_of_statements gives the same values back."""
    import numpy as np
    import torch

    from spiral_dsl.values import statements_of_values, values_of_statements
    n = data.draw(st.integers(1, 4))
    actions = [{s: data.draw(st.integers(0, k - 1)) for s, k in spec.sizes.items()} for _ in range(n)]
    indices = spec.stack(actions)
    decoded = [spec.decode(a) for a in actions]
    as_numpy = spec.values_of(indices)
    as_torch = spec.values_of({s: torch.as_tensor(v) for s, v in indices.items()})
    assert statements_of_values(spec.domain, as_numpy) == decoded
    assert statements_of_values(spec.domain, as_torch) == decoded
    again = values_of_statements(spec.domain, decoded)
    for field, value in again.items():
        used = [b for b, st_ in enumerate(decoded) if hasattr(st_, field) or field == "flag"]
        np.testing.assert_array_equal(value[used], as_numpy[field][used])
        assert torch.is_tensor(as_torch[field]) and value.dtype == as_torch[field].numpy().dtype


def test_values_name_their_missing_slots_and_bad_indices():
    from spiral_dsl.values import statements_of_values
    with pytest.raises(SplRangeError, match=r"actions lack slots \['blue'\]"):
        PAINT.values_of({s: [0] for s in PAINT.order if s != "blue"})
    import torch
    for bad, shown in ((-1, -1), (PAINT.sizes["end"], PAINT.sizes["end"])):   # -1 is no "last"
        indices = PAINT.stack([{}, {"end": bad}])
        for passed in (indices, {s: torch.as_tensor(v) for s, v in indices.items()}):
            with pytest.raises(SplRangeError, match=rf"action index {shown} of slot 'end' is "
                                                    rf"out of range \[0, {PAINT.sizes['end'] - 1}\]"):
                PAINT.values_of(passed)
    values = SCENE.values_of(SCENE.stack([{}]))
    values["shape"] = values["shape"] + 7
    with pytest.raises(SplRangeError, match=r"shape=7 is out of range \[0, 3\]"):
        statements_of_values("scene", values)


def test_a_move_row_carries_harmless_fill_in_fields_it_lacks():
    from spiral_dsl.values import values_of_statements
    values = values_of_statements("paint", [Move(Point(4, 6)), Stroke(Point(1, 2), Point(3, 4), 0.5, 2.0, Color(0.1, 0.2, 0.3))])
    assert values["flag"].tolist() == [0, 1]
    assert values["via"].tolist() == [[4, 6], [3, 4]]            # a move's via is its to
    assert values["pressure"].tolist() == [1.0, 0.5] and values["color"][0].tolist() == [0, 0, 0]
