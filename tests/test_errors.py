"""Every invalid form raises the right SplError subclass at the right place."""
import pytest

from spiral_dsl import (
    Program,
    SplError,
    SplLimitError,
    SplNameError,
    SplRangeError,
    SplSyntaxError,
    SplTypeError,
)

CASES = [
    # (source, error class, line, column)
    ("move to (1, 2)", SplSyntaxError, 1, 1),
    ("paint\nmove to (1, 2", SplSyntaxError, 2, 14),
    ("paint\nmove (1, 2)", SplSyntaxError, 2, 6),
    ("paint\nstroke to (1, 2) size 1 pressure 1 color #000000", SplSyntaxError, 2, 18),
    ("paint\nmove to (1, 2) $", SplSyntaxError, 2, 16),
    ("paint canvas=64 canvas=32", SplSyntaxError, 1, 17),
    ("paint\nmove to (1, 1)\ngrid=4", SplSyntaxError, 3, 1),
    ("paint\nlet x = #12345", SplSyntaxError, 2, 9),
    ("paint colour=1", SplNameError, 1, 7),
    ("paint canvas=0", SplRangeError, 1, 7),
    ("paint canvas=64.5", SplTypeError, 1, 7),
    ("paint grid=128", SplRangeError, 1, 7),
    ("scene objects=100", SplRangeError, 1, 7),
    ("paint\nmove to (65, 1)", SplRangeError, 2, 1),
    ("paint\nlet p = (60, 1)\nmove to p + (10, 0)", SplRangeError, 3, 9),
    ("paint\nstroke via (1, 1) to (2, 2) pressure 1.5 size 1 color #000000", SplRangeError, 2, 1),
    ("paint\nlet k = 2\nstroke to (2, 2) pressure k size 1 color #000000", SplRangeError, 3, 27),
    ("paint\nstroke to (2, 2) pressure 1 size 0 color #000000", SplRangeError, 2, 34),
    ("paint\nstroke to (2, 2) pressure 1 size 1 color rgb(2, 0, 0)", SplRangeError, 2, 42),
    ("paint\nstroke to (2, 2) pressure 1 size 1 color mix(#000000, #ffffff, 3)", SplRangeError, 2, 42),
    ("paint\nlet a = 1 / 0", SplRangeError, 2, 9),
    ("paint\nmove to (1, 2) + 3", SplTypeError, 2, 9),
    ("paint\nlet c = #000000\nmove to (c, 1)", SplTypeError, 3, 10),
    ("paint\nstroke to (1, 1) pressure (1, 1) size 1 color #000000", SplTypeError, 2, 27),
    ("paint\nlet x = -#000000", SplTypeError, 2, 9),
    ("paint\nlet x = lerp(#000000, #ffffff, 0.5)", SplTypeError, 2, 9),
    ("paint\nlet x = mix((1, 1), (2, 2), 0.5)", SplTypeError, 2, 9),
    ("paint\nplace cube at (1, 1) size small color #000000", SplTypeError, 2, 1),
    ("scene\nmove to (1, 1)", SplTypeError, 2, 1),
    ("scene\nplace pyramid at (1, 1) size small color #000000", SplTypeError, 2, 1),
    ("scene\nplace cube at (1, 1) size huge color #000000", SplTypeError, 2, 1),
    ("scene\nplace cube at (16, 1) size small color #000000", SplRangeError, 2, 1),
    ("scene\nlet i = 1.5\nplace cube at (i, 1) size small color #000000", SplRangeError, 3, 15),
    ("scene objects=2\nrepeat i in 0..3 {\n  place cube at (i, 1) size small color #000000\n}", SplLimitError, 3, 3),
    ("paint\nmove to q", SplNameError, 2, 9),
    ("paint\nf(1)", SplNameError, 2, 1),
    ("paint\nlet a = 1\nlet a = 2", SplNameError, 3, 1),
    ("paint\ndef f(a: Num) { move to (a, a) }\ndef f(b: Num) { move to (b, b) }", SplNameError, 3, 1),
    ("paint\ndef f(a: Num) {\n  f(a)\n}", SplNameError, 3, 3),
    ("paint\ndef f(a: Num, a: Num) { }", SplNameError, 2, 15),
    ("paint\ndef f(a: Int) { }", SplTypeError, 2, 7),
    ("paint\ndef f(a: Num) { }\nf(1, 2)", SplTypeError, 3, 1),
    ("paint\ndef f(a: Point) { }\nf(1)", SplTypeError, 3, 3),
    ("paint\nlet a = 1\na(1)", SplTypeError, 3, 1),
    ("paint\nrepeat i in 0..2.5 { }", SplRangeError, 2, 16),
    ("paint\nrepeat i in 0..(1, 1) { }", SplTypeError, 2, 16),
    ("paint\nrepeat i in 0..100001 {\n  move to (1, 1)\n}", SplLimitError, 3, 3),
    ("paint\nrepeat i in 0..100000000 { }", SplLimitError, 2, 1),
    # issue 13: hostile input gets positioned SplErrors, never a Python error
    ("paint\nrepeat i in 0..99999 { let a = (i+i+i+i+i) * (i+i+i+i+i) }", SplLimitError, 2, 1),
    ("paint\nlet a = " + "-" * 150 + "1", SplLimitError, 2, 109),
    ('paint brush="\\x"', SplSyntaxError, 1, 13),
    ('paint brush="/etc/passwd"', SplRangeError, 1, 7),
    ("// @: note\npaint", SplSyntaxError, 1, 5),
    ("paint\nmove\xa0to (1, 1)", SplSyntaxError, 2, 5),
    ("paint\nlet a = 1\nmove to (1, 1)\v", SplSyntaxError, 3, 15),
]


@pytest.mark.parametrize("source,error,line,column", CASES)
def test_error_class_and_position(source, error, line, column):
    with pytest.raises(error) as info:
        Program.parse(source, filename="prog.spl")
    e = info.value
    assert (e.filename, e.line, e.column) == ("prog.spl", line, column), str(e)
    text = str(e)
    first, src, caret = text.split("\n")[:3]
    assert first.startswith(f"prog.spl:{line}:{column}: ")
    assert src == source.split("\n")[line - 1]  # lines end at \n only, as positions count them
    assert caret == " " * (column - 1) + "^"


def test_range_errors_name_the_value_and_range():
    with pytest.raises(SplRangeError, match=r"pressure=1.5 is out of range \[0, 1\]"):
        Program.parse("paint\nstroke via (1, 1) to (2, 2) pressure 1.5 size 1 color #000000")
    with pytest.raises(SplRangeError, match=r"x=70 is outside the canvas \[0, 64\]"):
        Program.parse("paint\nmove to (70, 1)")


def test_missing_file_is_an_spl_error(tmp_path):
    with pytest.raises(SplError, match="cannot read"):
        Program.load(tmp_path / "nope.spl")


def test_program_is_immutable():
    p = Program.parse("paint")
    with pytest.raises(AttributeError):
        p.header = None


def test_joining_different_headers_is_a_type_error():
    with pytest.raises(SplTypeError):
        Program.parse("paint canvas=64") + Program.parse("paint canvas=32")
