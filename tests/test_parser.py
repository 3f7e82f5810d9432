"""spiral_dsl.parser: the fast path and lark agree, whitespace and lines are the grammar's,
hostile text is bounded (size, nesting), and every failure is a positioned SplError."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spiral_dsl import Program, SplError, SplLimitError, SplRangeError, SplSyntaxError
from spiral_dsl.limits import LIMITS
from spiral_dsl.parser import parse, parse_with_lark
from spiral_dsl.source import read_metadata, read_source
from spiral_dsl.testing import programs


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


# ----------------------------------------------------------------------------- whitespace
CORE = "paint\nmove to (1, 1)\nstroke via (2, 2) to (3, 3) pressure 1 size 1 color #000000\n"
SUGAR = CORE + "let a = 1\n"


@pytest.mark.parametrize("space", ["\xa0", "\v", "\x85", "\u2028", "\u2029", "\u3000", "\x1c"])
@pytest.mark.parametrize("where", ["start", "inside", "end"])
def test_whitespace_outside_the_grammar_fails_on_both_paths_alike(space, where):
    # the fast path accepted these (Python's \s and str.strip()), lark rejects them: the same
    # file passed or failed depending on whether it had a `let`
    line = "move to (1, 1)"
    bad = {"start": space + line, "inside": line.replace(" ", space, 1), "end": line + space}[where]
    errors = []
    for base in (CORE, SUGAR):
        text = base.replace("move to (1, 1)", bad)
        with pytest.raises(SplSyntaxError) as info:
            Program.parse(text, filename="w.spl")
        e = info.value
        errors.append((e.line, e.column))
        assert e.line == 2 and e.source_line == bad, str(e)
    assert errors[0] == errors[1]


@pytest.mark.parametrize("space", [" ", "\t", "\f", "\r"])
def test_the_grammars_whitespace_is_accepted_on_both_paths(space):
    for base in (CORE, SUGAR):
        text = base.replace("move to (1, 1)", f"{space}move{space}to{space}(1,{space}1){space}")
        assert len(Program.parse(text)) == 2


def test_crlf_files_parse_and_point_at_the_right_line():
    assert len(Program.parse(CORE.replace("\n", "\r\n"))) == 2
    with pytest.raises(SplRangeError) as info:
        Program.parse("paint\r\nlet a = 1\r\nmove to (99, 1)\r\n", filename="w.spl")
    assert (info.value.line, info.value.source_line) == (3, "move to (99, 1)")


@pytest.mark.parametrize("breaker", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
                                     "\u2029", "\r"])
def test_excerpts_count_lines_at_newlines_only(breaker):
    # splitlines() also breaks at these: 2,414 of 16,504 fuzzed errors showed the wrong line
    text = f"// a comment with a {breaker} inside\npaint\nlet a = 1\nmove to (99, 1)\n"
    with pytest.raises(SplRangeError) as info:
        Program.parse(text, filename="l.spl")
    assert info.value.line == 4 and info.value.source_line == "move to (99, 1)"
    assert str(info.value).splitlines()[1] == "move to (99, 1)"


# ----------------------------------------------------------------------------- strings
@pytest.mark.parametrize("literal", [r'"\x"', r'"\ud800"', r'"\u12"', '"a\tb"', r'"\q"'])
def test_bad_string_escapes_are_positioned_syntax_errors(literal):
    # `paint brush="\x"` raised SyntaxError / UnicodeEncodeError through ast.literal_eval
    with pytest.raises(SplSyntaxError, match="invalid string") as info:
        Program.parse(f"paint brush={literal}\nlet a = 1", filename="s.spl")
    assert (info.value.line, info.value.column) == (1, 13)


def test_string_settings_use_json_escapes_and_round_trip():
    h, _, _ = parse_with_lark('paint brush="a\\"b\\\\c\\u00e9"')
    assert dict(h.settings)["brush"] == 'a"b\\cé'


# ----------------------------------------------------------------------------- nesting
@pytest.mark.parametrize("text", [
    "paint\n" + "repeat i in 0..1 {" * 246 + "}" * 246,         # deep blocks
    "paint\nlet a = " + "+".join(["1"] * 490),                  # a long chain
    "paint\nlet a = " + "-" * 1000 + "1",                       # unary minus
    "paint\nlet a = " + "(" * 2000 + "1" + ")" * 2000 + " + (" + "-" * 200 + "1)",
    "paint\nlet a = " + "lerp(" * 300 + "1, 2, 0.5" + ")" * 300,
])
def test_deep_nesting_is_a_limit_error_not_a_recursion_error(text):
    with pytest.raises(SplLimitError, match=f"nesting={LIMITS.nesting}") as info:
        Program.parse(text, filename="n.spl")
    assert info.value.line == 2 and info.value.column >= 1


def test_nesting_up_to_the_limit_works_everywhere_even_from_a_deep_stack():
    depth = LIMITS.nesting
    blocks = "paint\n" + "repeat i in 0..1 {\n" * (depth - 1) + "let a = " + "-" * 1 + "i\n" \
        + "}\n" * (depth - 1)
    chain = "paint\nlet a = " + " + ".join(["1"] * depth) + "\nmove to (a - 90, 1)"
    parens = "paint\nlet a = " + "(" * 5000 + "1" + ")" * 5000 + "\nmove to (a, a)"

    def nested(k):  # leave ~300 frames of headroom to the caller, as pytest or Ray would
        if k:
            return nested(k - 1)
        return [Program.parse(t) for t in (blocks, chain, parens)]

    for p in nested(300):
        assert Program.parse(str(p)) == p
        assert Program.from_json(p.to_json_text()) == p
        hash(p), p.lower()
    with pytest.raises(SplLimitError):
        Program.parse("paint\nlet a = " + " + ".join(["1"] * (depth + 2)))


# ----------------------------------------------------------------------------- size
def test_syntax_errors_in_huge_lines_have_bounded_messages():
    # a syntax error in a 10 MB line yielded a 20 MB message
    with pytest.raises(SplError) as info:
        Program.parse("paint\nmove to (" + "1" * 10_000_000 + " $", filename="big.spl")
    assert info.value.line == 2 and len(str(info.value)) < 1000
    n = LIMITS.sugar_source_bytes - 100
    with pytest.raises(SplSyntaxError) as info:
        Program.parse("paint\nmove to (" + "1" * n + " $", filename="big.spl")
    e = info.value
    assert (e.line, e.column) == (2, n + 11)
    first, src, caret = str(e).split("\n")
    assert len(src) < 200 and src[caret.index("^")] == "$"
    with pytest.raises(SplSyntaxError) as info:  # a long token quoted in the message
        Program.parse("paint\nmove " + "x" * n, filename="big.spl")
    assert len(str(info.value)) < 1000 and f"{n:,}-character token" in str(info.value)


def test_numbers_too_large_for_a_float_are_range_errors():
    with pytest.raises(SplRangeError, match="too large") as info:
        Program.parse("paint\nlet a = " + "9" * 400, filename="x.spl")
    assert (info.value.filename, info.value.line, info.value.column) == ("x.spl", 2, 9)


def test_text_over_the_source_limit_is_refused_before_parsing(monkeypatch):
    import spiral_dsl.parser as P
    from spiral_dsl.limits import Limits
    monkeypatch.setattr(P, "LIMITS", Limits(source_bytes=100))
    with pytest.raises(SplLimitError, match="source_bytes=100"):
        parse("paint\n" + "// x\n" * 30)


def test_only_core_programs_may_be_long(monkeypatch):
    # lark reads ~10,000 statements/s: a long sugar text is refused before it is parsed, at the
    # first line the fast path cannot read
    import spiral_dsl.parser as P
    from spiral_dsl.limits import Limits
    monkeypatch.setattr(P, "LIMITS", Limits(sugar_source_bytes=200))
    core = "paint\n" + "move to (1, 1)\n" * 20
    assert len(parse(core)[1]) == 20
    with pytest.raises(SplLimitError, match="sugar_source_bytes=200") as info:
        parse(core + "let a = 1\n" + core[6:], filename="s.spl")
    assert (info.value.line, info.value.column) == (22, 1)
    with pytest.raises(SplLimitError, match="sugar_source_bytes=200"):
        parse_with_lark(core)


def test_the_fast_path_stops_at_the_core_statement_limit(monkeypatch):
    import spiral_dsl.fast_parse as F
    from spiral_dsl.limits import Limits
    monkeypatch.setattr(F, "LIMITS", Limits(core_statements=3))
    with pytest.raises(SplLimitError, match="core_statements=3") as info:
        parse("paint\n" + "move to (1, 1)\n" * 5, filename="c.spl")
    assert info.value.line == 5


def test_unexpected_end_of_file_points_after_the_last_token():
    with pytest.raises(SplSyntaxError) as info:
        Program.parse("paint\nmove to (1, 2\n\n  \n", filename="e.spl")
    assert (info.value.line, info.value.column) == (2, 14)


# ----------------------------------------------------------------------------- metadata
def test_metadata_lines_are_read_and_bad_ones_are_positioned():
    assert read_metadata("// @score: 0.5\n// @by: me\npaint") == {"score": "0.5", "by": "me"}
    # a leading `// @: note` made the file unloadable with no position
    for text in ("// @: note\npaint", "// @score: 1\n// @ : x\npaint", "// @\xa0k: v\npaint",
                 "// @k: a\rb\npaint"):
        with pytest.raises(SplSyntaxError, match="metadata line") as info:
            Program.parse(text, filename="m.spl")
        assert info.value.filename == "m.spl" and info.value.line in (1, 2), text
        assert info.value.column == 5
    assert not Program.parse("// plain\n// @: not metadata below the top\npaint").metadata


# ----------------------------------------------------------------------------- files
def test_reading_a_binary_file_is_a_positioned_syntax_error(tmp_path):
    path = tmp_path / "digit7.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(SplSyntaxError, match="not UTF-8 text: byte 0x89") as info:
        read_source(path)
    assert (info.value.line, info.value.column) == (1, 1)
    with pytest.raises(SplError, match="cannot read"):
        read_source(tmp_path / "missing.spl")


@settings(max_examples=50)
@given(st.text(max_size=60))
def test_any_text_parses_or_raises_a_positioned_spl_error(text):
    try:
        Program.parse(text, filename="t.spl")
    except SplError as e:
        if e.line is not None:
            lines = text.split("\n")
            assert 1 <= e.line <= len(lines) and 1 <= e.column <= len(lines[e.line - 1]) + 1
