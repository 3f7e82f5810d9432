"""spiral_dsl.printer: the canonical text reads back to the same program; printing is
idempotent; numbers, colours and strings print in forms the parser reads exactly."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiral_dsl import Program
from spiral_dsl import ast as A
from spiral_dsl.printer import format_number, print_header
from spiral_dsl.testing import programs


@settings(max_examples=200)
@given(programs())
def test_parse_print_is_identity(p):
    text = str(p)
    assert Program.parse(text) == p
    assert str(Program.parse(text)) == text  # printing is idempotent


@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_numbers_print_in_the_shortest_form_that_reads_back(x):
    text = format_number(x)
    assert "e" not in text and "E" not in text
    assert float(text) == x or (x == 0 and text == "0")


@pytest.mark.parametrize("x,text", [(1.0, "1"), (0.5, "0.5"), (-0.25, "-0.25"), (1e-7, "0.0000001"),
                                    (123456789012345678.0, "123456789012345680")])
def test_number_forms(x, text):
    assert format_number(x) == text


@pytest.mark.parametrize("value", ["classic/pen", 'a"b', "back\\slash", "é ü", "tab\there",
                                   "\x01", "😀"])
def test_string_settings_print_as_strings_the_parser_reads_back(value):
    header = A.Header("paint", (("brush", value),))
    text = print_header(header)
    from spiral_dsl.parser import parse_with_lark
    assert dict(parse_with_lark(text)[0].settings)["brush"] == value


def test_colours_print_as_hex_when_exact_and_rgb_otherwise():
    p = Program.parse("paint\nstroke via (1, 1) to (2, 2) pressure 1 size 1 color rgb(1, 0, 0)\n"
                      "stroke via (1, 1) to (2, 2) pressure 1 size 1 color rgb(0, 0.667, 0.667)")
    lines = str(p).splitlines()
    assert lines[1].endswith("#ff0000") and lines[2].endswith("rgb(0, 0.667, 0.667)")
    assert not math.isnan(p[1].color.g)
