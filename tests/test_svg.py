"""SVG export: one quadratic Bézier path per stroke from the pen position, nothing for moves."""
import math
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiral_dsl import Color, Move, Point, Program, SplRangeError, SplTypeError, Stroke
from spiral_dsl.settings import DEFAULTS
from spiral_dsl.svg import to_svg
from spiral_dsl.testing import programs
from spiral_dsl.testing import statements as paint_statements

NS = "{http://www.w3.org/2000/svg}"
PAINT = dict(DEFAULTS["paint"])


def paths(svg: str):
    return ET.fromstring(svg).findall(f"{NS}path")


def test_svg_paths_follow_strokes():
    p = Program.parse("paint\nmove to (4, 6)\nstroke via (8, 8) to (10, 12) pressure 0.5 size 3 "
                      "color #ff0000\nstroke to (20, 20) pressure 1 size 1 color #000000")
    root = ET.fromstring(p.to_svg(size=256))
    assert root.get("width") == "256" and root.get("viewBox") == "0 0 64 64"
    found = root.findall(f"{NS}path")
    assert [x.get("d") for x in found] == ["M 4 6 Q 8 8 10 12", "M 10 12 Q 15 16 20 20"]
    assert found[0].get("stroke") == "#ff0000" and found[0].get("stroke-width") == "6"
    assert found[0].get("stroke-opacity") == "0.5" and found[0].get("stroke-linecap") == "round"
    assert p.to_svg() == to_svg(p) == to_svg("paint", p.settings, list(p))
    assert to_svg(list(p), p.settings) == p.to_svg()


def test_the_first_stroke_starts_at_the_origin():
    svg = to_svg("paint", PAINT, [Stroke(Point(10, 20), Point(5, 5), 1.0, 2.0, Color(0, 0, 1))])
    assert [x.get("d") for x in paths(svg)] == ["M 0 0 Q 5 5 10 20"]


def test_background_and_size():
    root = ET.fromstring(Program.parse("paint canvas=32 background=#336699\nmove to (1, 1)")
                         .to_svg())
    assert root.get("width") == root.get("height") == "32"
    rect = root.find(f"{NS}rect")
    assert rect.get("fill") == "#336699" and rect.get("width") == "32"
    assert paths(ET.tostring(root, encoding="unicode")) == []


@settings(max_examples=50)
@given(programs(domain="paint", max_statements=12))
def test_one_path_per_stroke_starting_at_the_pen(p):
    svg = p.to_svg()
    found = paths(svg)
    core = list(p.lower())
    strokes = [s for s in core if isinstance(s, Stroke)]
    assert len(found) == len(strokes)
    pen, k = (0.0, 0.0), 0
    for s in core:
        if isinstance(s, Stroke):
            parts = found[k].get("d").split()
            assert parts[0] == "M" and parts[3] == "Q"
            assert [float(v) for v in parts[1:3] + parts[4:]] == [
                pen[0], pen[1], s.via.x, s.via.y, s.to.x, s.to.y]
            assert float(found[k].get("stroke-width")) == 2 * s.size
            assert float(found[k].get("stroke-opacity")) == s.pressure
            rgb = found[k].get("stroke")
            for c, i in zip(s.color, (1, 3, 5)):
                assert abs(int(rgb[i:i + 2], 16) / 255 - c) <= 0.5 / 255 + 1e-12
            k += 1
        pen = (s.to.x, s.to.y)


@settings(max_examples=20)
@given(st.lists(st.builds(Move, st.builds(Point, st.floats(0, 64), st.floats(0, 64))),
                max_size=8))
def test_moves_draw_nothing(moves):
    svg = to_svg("paint", PAINT, moves)
    assert paths(svg) == [] and len(ET.fromstring(svg).findall(f"{NS}rect")) == 1


@settings(max_examples=20)
@given(st.lists(paint_statements("paint"), max_size=6))
def test_statements_and_program_agree(statements):
    p = Program.from_statements(statements)
    assert to_svg("paint", dict(p.settings), statements) == p.to_svg()


@pytest.mark.parametrize("bad", [
    Stroke(Point(math.nan, 1), Point(1, 1), 1.0, 1.0, Color(0, 0, 0)),
    Stroke(Point(1, 1), Point(1, 1), 2.0, 1.0, Color(0, 0, 0)),
    Stroke(Point(1, 1), Point(1, 1), 1.0, 0.0, Color(0, 0, 0)),
    Stroke(Point(1, 1), Point(1, 1), 1.0, 1.0, Color(0, 0, math.inf)),
    Move(Point(100, 1)),
])
def test_invalid_values_are_rejected(bad):
    with pytest.raises(SplRangeError):
        to_svg("paint", PAINT, [bad])


def test_scene_programs_have_no_svg():
    p = Program.parse("scene\nplace cube at (1, 1) size small color #ff0000")
    with pytest.raises(SplTypeError):
        p.to_svg()
