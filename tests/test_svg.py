"""SVG export: one quadratic path per stroke, nothing for moves."""
import xml.etree.ElementTree as ET

import pytest

from spiral_dsl import Program, SplTypeError


def test_svg_paths_follow_strokes():
    p = Program.parse("paint\nmove to (4, 6)\nstroke via (8, 8) to (10, 12) pressure 0.5 size 3 color #ff0000\n"
                      "stroke to (20, 20) pressure 1 size 1 color #000000")
    root = ET.fromstring(p.to_svg(size=256))
    assert root.get("width") == "256" and root.get("viewBox") == "0 0 64 64"
    paths = root.findall("{http://www.w3.org/2000/svg}path")
    assert [x.get("d") for x in paths] == ["M 4 6 Q 8 8 10 12", "M 10 12 Q 15 16 20 20"]
    assert paths[0].get("stroke") == "#ff0000" and paths[0].get("stroke-width") == "6"
    assert paths[0].get("stroke-opacity") == "0.5"
    assert p._repr_svg_() == p.to_svg()


def test_scene_programs_have_no_svg():
    p = Program.parse("scene\nplace cube at (1, 1) size small color #ff0000")
    assert p._repr_svg_() is None
    with pytest.raises(SplTypeError):
        p.to_svg()


def test_png_repr():
    png = Program.parse("paint\nmove to (1, 1)")._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
