"""spiral_dsl.checker: settings, names, types, arity, recursion, domains and brush names are
checked statically, each error at the source of the problem."""
import pytest

from spiral_dsl import Program, SplLimitError, SplNameError, SplRangeError, SplTypeError
from spiral_dsl import ast as A
from spiral_dsl.checker import check, check_settings
from spiral_dsl.limits import LIMITS


def test_defaults_fill_omitted_settings():
    assert Program.parse("paint").settings["grid"] == 32
    assert Program.parse("scene").settings == {"canvas": 64, "grid": 16, "objects": 5}


def test_undefined_name_suggests_close_matches():
    with pytest.raises(SplNameError, match="did you mean ink"):
        Program.parse("paint\nlet ink = #000000\nstroke to (1, 1) pressure 1 size 1 color inc")


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/./b", "a//b", "x.myb", "a\\b", "",
                                  "tab\tname"])
def test_a_brush_setting_is_a_name_never_a_path(name):
    # a .spl could name a brush file by absolute path; the checker refuses it at the setting
    header = A.Header("paint", (("brush", name),))
    with pytest.raises(SplRangeError, match="must be a brush name") as info:
        check_settings(header, {"brush": A.Span("b.spl", 1, 7, 1, 20)})
    assert (info.value.filename, info.value.line, info.value.column) == ("b.spl", 1, 7)


def test_settings_are_normalised_and_range_checked():
    assert check_settings(A.Header("paint", (("canvas", 64.0),))) == {"canvas": 64}
    with pytest.raises(SplRangeError, match=r"canvas=5000 is out of range \[1, 4096\]"):
        check_settings(A.Header("paint", (("canvas", 5000.0),)))
    with pytest.raises(SplTypeError, match="must be a string"):
        check_settings(A.Header("paint", (("brush", 3.0),)))


def test_unknown_domain_and_non_statements_are_type_errors():
    with pytest.raises(SplTypeError, match="unknown domain"):
        check(A.Header("sculpt"), ())
    with pytest.raises(SplTypeError, match="not a statement"):
        check(A.Header("paint"), (A.Number(1.0),))


def test_a_deep_program_built_in_python_is_a_limit_error():
    # text and JSON are bounded while reading; the checker bounds what Python code builds
    expr = A.Number(1.0)
    for _ in range(5000):
        expr = A.BinOp("+", expr, A.Number(1.0))
    with pytest.raises(SplLimitError, match=f"nesting={LIMITS.nesting}"):
        Program.from_statements([A.Let("a", expr)])
    body = (A.Move(A.Point(1, 1)),)
    for _ in range(LIMITS.nesting + 1):
        body = (A.Repeat("i", A.Number(0.0), A.Number(1.0), body),)
    with pytest.raises(SplLimitError, match=f"nesting={LIMITS.nesting}"):
        Program.from_statements(body)
