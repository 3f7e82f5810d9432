"""spiral_dsl.limits: the limits are one data object, the documentation's table lists exactly
its fields and values, and every limit is enforced by an error that names it."""
import dataclasses
import importlib
import re
from pathlib import Path

import pytest

from spiral_dsl.ast import Point
from spiral_dsl.limits import LIMITS, Limits, limit_names, painted_area

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `?([a-z_ ]+?)`? \| ([0-9,.]+(?:\.\.[0-9,]+)?) \|", re.M)


def _limits_section() -> str:
    start = DOC.index("## Limits\n")
    return DOC[start:DOC.index("\n## ", start + 1)]


def _tables() -> list[dict[str, str]]:
    """The tables of the Limits section, each as {name: value text}."""
    return [dict(ROW.findall(table)) for table in re.split(r"\n\n(?=The learning)", _limits_section())]


def _number(text: str):
    value = float(text.replace(",", ""))
    return int(value) if value.is_integer() else value


def test_the_documented_table_is_the_limits_object():
    language = _tables()[0]
    assert list(language) == list(limit_names())
    for name, text in language.items():
        assert _number(text) == getattr(LIMITS, name), name


def test_the_learning_layers_rows_match_synth_limits():
    try:
        synth_limits = importlib.import_module("synth.limits")
    except ImportError:
        pytest.skip("synth.limits is not part of this tree yet")
    rows = _tables()[1]
    for name, text in rows.items():
        if name.startswith("checkpoint "):
            key = name.split()[1]
            rule = {**synth_limits.CHECKPOINT_CONFIG, **synth_limits.CHECKPOINT_SETTINGS}[key]
            low, high = (int(v.replace(",", "")) for v in text.split(".."))
            assert (rule.low, rule.high) == (low, high), name
        else:
            assert _number(text) == getattr(synth_limits.LIMITS, name), name
    documented = {n for n in rows if not n.startswith("checkpoint ")}
    assert documented == {f.name for f in dataclasses.fields(synth_limits.LIMITS)}


def test_every_limit_is_named_by_an_error_in_the_code():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "spiral_dsl").rglob("*.py")
                       if p.name != "limits.py")
    for name in limit_names():
        if name.startswith("error_"):  # these bound the errors themselves
            assert f"LIMITS.{name}" in source, name
            continue
        assert re.search(rf"{name}=\{{", source) or f'"{name}"' in source, \
            f"no error message names the limit {name}"


def test_limits_are_frozen_data():
    with pytest.raises(dataclasses.FrozenInstanceError):
        LIMITS.work = 10
    assert Limits(work=5).work == 5 and Limits() == LIMITS


def test_painted_area_of_a_stroke():
    # a straight stroke of length 10 (control point on the line) and radius 1
    assert painted_area(0, 0, Point(5, 0), Point(10, 0), 1.0) == pytest.approx(20 + 3.14159, rel=1e-5)
