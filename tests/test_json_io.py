"""spiral_dsl.json_io: the JSON form round-trips every program, and reading it is strict: a
malformed document is one SplError naming its JSON path, never a Python error and never a
program that prints as something else."""
import copy
import json

import pytest
from hypothesis import given, settings

from spiral_dsl import Program, SplError, SplLimitError, SplSyntaxError
from spiral_dsl.limits import LIMITS
from spiral_dsl.testing import programs

SUGAR = Program.parse("paint canvas=64\nlet ink = #1a1a1a\ndef tick(at: Point, h: Num) {\n"
                      "  move to at\n  stroke to at + (0, h) pressure 0.6 size 1 color ink\n}\n"
                      "repeat k in 0..5 {\n  tick((8 + 10 * k, 20), 12 + 2 * k)\n}\n")
SCENE = Program.parse("scene\nplace cube at (1, 2) size small color #ff0000")


@settings(max_examples=200)
@given(programs())
def test_json_round_trip(p):
    assert Program.from_json(p.to_json()) == p
    assert Program.from_json(p.to_json_text()) == p


def test_bad_json_is_a_clear_error():
    with pytest.raises(SplError, match="version"):
        Program.from_json({"spl": 99, "header": {}, "body": []})
    with pytest.raises(SplSyntaxError, match="unknown node 'Teleport'"):
        Program.from_json({"spl": 1, "header": {"node": "Header", "domain": "paint", "settings": []},
                           "body": [{"node": "Teleport"}]})
    with pytest.raises(SplError, match="invalid JSON") as info:
        Program.from_json("{not json")
    assert (info.value.line, info.value.column) == (1, 2)


def _with(obj, path, value):
    """A deep copy of ``obj`` with the entry at ``path`` (keys and indices) set to ``value``."""
    out = copy.deepcopy(obj)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


SUGAR_OBJ, SCENE_OBJ = SUGAR.to_json(), SCENE.to_json()


@pytest.mark.parametrize("obj,where", [
    # these loaded and printed as something else: `let (1,) = 1`, `cell [1,2,3]`, "spl": true
    (_with(SUGAR_OBJ, ["body", 0, "name"], [1]), "body[0].name"),
    (_with(SCENE_OBJ, ["body", 0, "cell"], [1, 2, 3]), "body[0].cell"),
    (_with(SUGAR_OBJ, ["spl"], True), "spl"),
    (_with(SCENE_OBJ, ["body", 0, "cell"], [True, 2]), "body[0].cell"),
    (_with(SCENE_OBJ, ["body", 0, "cell"], [1.5, 2]), "body[0].cell"),
    (_with(SUGAR_OBJ, ["body", 1, "name"], "not a name"), "body[1].name"),
    (_with(SUGAR_OBJ, ["body", 1, "params", 0, "name"], None), "body[1].params[0].name"),
    (_with(SUGAR_OBJ, ["body", 2, "start"], {"node": "Number", "value": "0"}), "body[2].start.value"),
    (_with(SUGAR_OBJ, ["body", 2, "start"], {"node": "Number", "value": 10 ** 400}),
     "body[2].start.value"),
    (_with(SUGAR_OBJ, ["body", 2, "start"], {"node": "Number", "value": float("nan")}),
     "body[2].start.value"),
    (_with(SUGAR_OBJ, ["body", 2, "start"], {"node": "Move", "to": {"node": "Point", "x": 1,
                                                                      "y": 1}}), "body[2].start"),
    (_with(SUGAR_OBJ, ["body", 2, "body"], {"node": "Let"}), "body[2].body"),
    (_with(SUGAR_OBJ, ["body", 2, "body", 0, "args"], "abc"), "body[2].body[0].args"),
    (_with(SUGAR_OBJ, ["body", 2, "body", 0, "args", 0, "x", "op"], "%"),
     "body[2].body[0].args[0].x.op"),
    (_with(SUGAR_OBJ, ["body", 0, "value", "color"], {"node": "Color", "r": 1, "g": 1}),
     "body[0].value.color"),
    (_with(SUGAR_OBJ, ["body", 0, "value", "extra"], 1), "body[0].value"),
    (_with(SUGAR_OBJ, ["body", 0, "value", "node"], ["ColorLit"]), "body[0].value"),
    (_with(SUGAR_OBJ, ["header", "domain"], "sculpt"), "header.domain"),
    (_with(SUGAR_OBJ, ["header", "settings"], [["canvas"]]), "header.settings[0]"),
    (_with(SUGAR_OBJ, ["header", "settings"], [["canvas", 64], ["canvas", 32]]), "header.settings[1]"),
    (_with(SUGAR_OBJ, ["header", "settings"], [["canvas", [64]]]), "header.settings[0][1]"),
    (_with(SUGAR_OBJ, ["header", "settings"], [["brush", "\ud800"]]), "header.settings[0][1]"),
    (_with(SUGAR_OBJ, ["header", "settings"], {"canvas": 64}), "header.settings"),
    (_with(SUGAR_OBJ, ["metadata"], {"score": 1}), "metadata['score']"),
    (_with(SUGAR_OBJ, ["metadata"], []), "metadata"),
    (_with(SUGAR_OBJ, ["body"], {"node": "Let"}), "body"),
    (_with(SUGAR_OBJ, ["extra"], 1), "the top level"),
    ({"spl": 1, "header": SUGAR_OBJ["header"]}, "the top level"),
    ([1, 2], "the top level"),
    (42, "the top level"),
])
def test_malformed_programs_are_syntax_errors_naming_the_json_path(obj, where):
    with pytest.raises(SplSyntaxError) as info:
        Program.from_json(obj)
    assert f"at {where}:" in str(info.value) or where == "spl" and "spl" in str(info.value)
    with pytest.raises(SplSyntaxError):  # the same through the text, where JSON can say it
        try:
            text = json.dumps(obj)
        except (TypeError, ValueError):
            raise SplSyntaxError("not representable") from None
        Program.from_json(text)


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,                      # RecursionError inside json.loads
    '{"spl": 1, "header": ' + "[" * 5000,
    "1" * 5000,                                         # an integer of more than 4,300 digits
    b"\xff\xfe\x00",                                    # not UTF-8
    "",
])
def test_malformed_json_text_is_an_spl_error(text):
    with pytest.raises(SplError):
        Program.from_json(text)


def test_deep_nesting_is_a_limit_error_naming_the_path():
    expr = {"node": "Number", "value": 1.0}
    for _ in range(LIMITS.nesting + 1):
        expr = {"node": "Neg", "operand": expr}
    obj = _with(SUGAR_OBJ, ["body", 0], {"node": "Let", "name": "a", "value": expr})
    with pytest.raises(SplLimitError, match=rf"at body\[0\]\.value(\.operand)+: nesting deeper "
                                            rf"than nesting={LIMITS.nesting}"):
        Program.from_json(obj)


def test_a_json_file_over_the_source_limit_is_refused(monkeypatch):
    import spiral_dsl.json_io as J
    from spiral_dsl.limits import Limits
    monkeypatch.setattr(J, "LIMITS", Limits(source_bytes=10))
    with pytest.raises(SplLimitError, match="source_bytes=10"):
        Program.from_json(SUGAR.to_json_text())


def test_errors_from_a_json_file_name_the_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(_with(SCENE_OBJ, ["body", 0, "cell"], [1])))
    with pytest.raises(SplSyntaxError) as info:
        Program.load(path)
    assert info.value.filename == str(path) and "body[0].cell" in str(info.value)
