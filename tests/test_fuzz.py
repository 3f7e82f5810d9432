"""Seeded, bounded fuzzing of every input a user hands the language.

Each :class:`Target` is one kind of input: valid seeds, a mutator and a runner. Every mutated
case must either load or raise an :class:`SplError` subclass (never another exception), each
within ``CASE_SECONDS``; errors from program text must carry a position inside the file. A case
that loads must print and read back to the same program (so nothing invalid loads as something
else). To fuzz another input (images, checkpoints), add a ``Target`` to ``TARGETS`` (or build
one with :func:`byte_mutations` and call :func:`run_target` from a test beside that code).
"""
from __future__ import annotations

import copy
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from spiral_dsl import Program, SplError
from spiral_dsl import ast as A
from spiral_dsl.fast_parse import fast_parse
from spiral_dsl.parser import parse_with_lark

ROOT = Path(__file__).resolve().parent.parent
CASE_SECONDS = 1.0  # generous: a case is a small file; the limits keep each one far below


@dataclass(frozen=True)
class Target:
    """One kind of input. ``mutate(seed, rng)`` returns a case; ``run(case)`` loads it (raising
    SplError or returning a value); ``check(case, value_or_error)`` asserts what must hold."""
    name: str
    seeds: list
    mutate: Callable[[Any, random.Random], Any]
    run: Callable[[Any], Any]
    check: Callable[[Any, Any], None]
    cases: int


def run_target(target: Target, seed: int = 13) -> dict:
    """Run ``target.cases`` mutated cases; return counts of loaded / refused cases."""
    rng = random.Random(seed)
    counts = {"loaded": 0, "refused": 0}
    for n in range(target.cases):
        case = target.mutate(target.seeds[n % len(target.seeds)], rng)
        t0 = time.perf_counter()
        try:
            outcome = target.run(case)
            counts["loaded"] += 1
        except SplError as e:
            outcome = e
            counts["refused"] += 1
        except Exception as e:  # the failure this test looks for
            raise AssertionError(f"{target.name} case {n}: {type(e).__name__}: {e}\n"
                                 f"--- case ---\n{_show(case)}") from e
        elapsed = time.perf_counter() - t0
        assert elapsed < CASE_SECONDS, f"{target.name} case {n} took {elapsed:.2f}s:\n{_show(case)}"
        target.check(case, outcome)
    return counts


def _show(case) -> str:
    text = case if isinstance(case, str) else repr(case)
    return text if len(text) < 2000 else text[:2000] + "..."


# ----------------------------------------------------------------------------- mutators
TOKEN = re.compile(r"[A-Za-z_]+|[0-9.]+|#[0-9a-fA-F]+|\.\.|//|\S")
VOCAB = ["move", "to", "stroke", "via", "pressure", "size", "color", "place", "at", "let",
         "def", "repeat", "in", "..", "(", ")", "{", "}", ",", "=", "+", "-", "*", "/", ":",
         "1", "0", "64", "4096", "100000", "99999999", "0.5", ".", "#ff00ff", "rgb", "mix",
         "lerp", "Num", "Point", "Color", "sphere", "small", "paint", "scene", "k", "x", "\n",
         "//", "// @", "// @: ", '"', "canvas=", "objects=", "grid=", 'brush="', "/etc/passwd",
         '"\\x"', '"\\ud800"', "9" * 400, "-" * 600, "(" * 600, "i+" * 600]
CHARS = "()[]{},.:=+-*/#\"\\\n 0123456789abzXZ_@\x00é\t\r\xa0\v\x85\u2028\u3000\x0c\ud800"


def text_mutations(text: str, rng: random.Random, rounds: int = 3) -> str:
    """1 to ``rounds`` character- or token-level edits of ``text``."""
    for _ in range(rng.randint(1, rounds)):
        if rng.random() < 0.5 or not TOKEN.search(text):
            i = rng.randrange(len(text) + 1)
            op, ch = rng.choice("dir"), rng.choice(CHARS)
            if op == "d":
                text = text[:i] + text[i + 1:]
            elif op == "r":
                text = text[:i] + ch + text[i + 1:]
            else:
                text = text[:i] + ch + text[i:]
            continue
        a, b = rng.choice([m.span() for m in TOKEN.finditer(text)])
        op, word = rng.choice("dirr"), rng.choice(VOCAB)
        text = (text[:a] + text[b:] if op == "d" else text[:a] + word + text[b:] if op == "r"
                else text[:a] + word + " " + text[a:])
    return text


def byte_mutations(data: bytes, rng: random.Random, rounds: int = 4) -> bytes:
    """1 to ``rounds`` byte flips, insertions, deletions or truncations (for binary inputs)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, rounds)):
        op = rng.choice("fidt")
        i = rng.randrange(len(buf) + 1)
        if op == "f" and i < len(buf):
            buf[i] = rng.randrange(256)
        elif op == "i":
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == "d" and i < len(buf):
            del buf[i:i + rng.randint(1, 8)]
        elif op == "t":
            del buf[i:]
    return bytes(buf)


JSON_VALUES = [None, True, False, 0, 1, -1, 1.5, 1e308, 10 ** 30, "", "x", "paint", "Let",
               "+", [], [1], [1, 2], [1, 2, 3], {}, {"node": "Number", "value": 1},
               {"node": "Name", "id": "k"}, {"node": "Point", "x": 1, "y": 2},
               {"node": "Color", "r": 1, "g": 0, "b": 0}, {"node": "Teleport"}]


def _paths(obj, max_depth: int = 40) -> list[tuple]:
    """Key paths of a JSON document (iteratively, not below ``max_depth``)."""
    out, stack = [], [(obj, ())]
    while stack:
        value, path = stack.pop()
        out.append(path)
        if len(path) >= max_depth:
            continue
        items = (value.items() if isinstance(value, dict) else
                 enumerate(value) if isinstance(value, list) else ())
        stack.extend((v, (*path, k)) for k, v in items)
    return out


def json_mutations(obj, rng: random.Random):
    """A structural edit of a JSON document (replace, delete, add, nest, swap a node kind), or,
    one time in four, a text-level edit of its serialisation."""
    if rng.random() < 0.25:
        return text_mutations(json.dumps(obj), rng)
    obj = copy.deepcopy(obj)
    for _ in range(rng.randint(1, 2)):
        paths = _paths(obj)
        path = rng.choice(paths[1:]) if len(paths) > 1 else ()
        if not path:
            return copy.deepcopy(rng.choice(JSON_VALUES))
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        key, op = path[-1], rng.choice("rrdanw")
        if op == "r":
            parent[key] = copy.deepcopy(rng.choice(JSON_VALUES))
        elif op == "d":
            del parent[key]
        elif op == "a" and isinstance(parent, dict):
            parent[rng.choice(["extra", "node", "span", "value"])] = copy.deepcopy(
                rng.choice(JSON_VALUES))
        elif op == "n":
            value = parent[key]
            for _ in range(rng.choice([1, 5, 120, 2000])):
                value = {"node": "Neg", "operand": value} if rng.random() < 0.5 else [value]
            parent[key] = value
        elif op == "w" and isinstance(parent[key], dict) and "node" in parent[key]:
            parent[key]["node"] = rng.choice(["Number", "Name", "Let", "Move", "BinOp", "Def",
                                              "Header", "Place", "Stroke", "Param"])
    return obj


# ----------------------------------------------------------------------------- seeds
def generated_programs(n: int, seed: int = 7) -> list[str]:
    """Valid programs from a seeded generator: core statements and a few sugar forms."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        canvas = rng.choice([32, 64, 128])
        if rng.random() < 0.3:
            body = [A.Place(rng.choice(A.SHAPES), (rng.randrange(16), rng.randrange(16)),
                            rng.choice(A.SIZE_CLASSES), A.Color(rng.random(), 0.5, 1.0))
                    for _ in range(rng.randint(0, 5))]
            out.append(str(Program.from_statements(body, "scene")))
            continue

        def pt(canvas=canvas):
            return A.Point(rng.randrange(canvas + 1), round(rng.uniform(0, canvas), 2))

        body = [A.Move(pt()) if rng.random() < 0.3 else
                A.Stroke(pt(), pt(), round(rng.random(), 3), rng.choice([0.5, 1, 2, 4]),
                         A.Color(rng.randrange(256) / 255, 0.25, rng.random()))
                for _ in range(rng.randint(0, 8))]
        text = str(Program.from_statements(body, "paint", canvas=canvas))
        if rng.random() < 0.5:
            text += (f"let c = ({canvas / 2}, {canvas / 2})\nrepeat k in 0..{rng.randint(0, 6)} {{\n"
                     "  stroke to c + (k, -k) pressure 0.5 size 1 color mix(#000000, #ffffff, 0.5)\n}\n")
        out.append(text)
    return out


SPL_SEEDS = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").glob("*.spl"))]
SPL_SEEDS += generated_programs(8)
SPL_SEEDS += ['// @score: 0.5\npaint brush="classic/pen" background=#ffffff\nmove to (1, 1)\n'
              'stroke via (2, 2) to (3, 3) pressure 1 size 1 color #000000\n']


def _load_spl(text: str):
    return Program.parse(text, filename="fuzz.spl")


def _check_spl(text: str, outcome) -> None:
    # the fast path reads only what the grammar reads, to the same AST
    fast = fast_parse(text, "fuzz.spl")
    if isinstance(fast, tuple):
        try:
            slow = parse_with_lark(text, "fuzz.spl")
        except SplError as e:
            raise AssertionError(f"the fast path read what lark refuses ({e}):\n{_show(text)}") from e
        assert fast[:2] == slow[:2], _show(text)
    if isinstance(outcome, SplError):
        lines = text.split("\n")
        assert outcome.filename == "fuzz.spl" and outcome.line is not None, \
            f"an error from program text without a position: {outcome!r}\n{_show(text)}"
        assert 1 <= outcome.line <= len(lines), (outcome.line, len(lines), _show(text))
        line = lines[outcome.line - 1]
        assert 1 <= outcome.column <= len(line) + 1, (str(outcome), _show(text))
        assert outcome.source_line == (line[:-1] if line.endswith("\r") else line), \
            f"the excerpt is not line {outcome.line}: {outcome}\n{_show(text)}"
        assert len(str(outcome)) < 5000
        return
    assert Program.parse(str(outcome)) == outcome, _show(text)


def _load_json(case):
    return Program.from_json(case)


def _check_json(case, outcome) -> None:
    if isinstance(outcome, SplError):
        assert len(str(outcome)) < 5000
        return
    assert Program.parse(str(outcome)) == outcome, _show(case)
    assert Program.from_json(outcome.to_json()) == outcome


TARGETS = [
    Target("spl", SPL_SEEDS, text_mutations, _load_spl, _check_spl, cases=2500),
    Target("json", [Program.parse(t).to_json() for t in SPL_SEEDS], json_mutations, _load_json,
           _check_json, cases=2000),
]


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_mutated_inputs_raise_only_positioned_spl_errors_quickly(target):
    counts = run_target(target)
    # the mutations reach both outcomes often (the fuzzer is not only testing the lexer)
    assert counts["loaded"] > target.cases // 20 and counts["refused"] > target.cases // 4, counts


def test_the_fuzzer_catches_what_it_looks_for():
    def crash(case):
        raise ValueError("boom")

    with pytest.raises(AssertionError, match="ValueError: boom"):
        run_target(Target("crash", ["x"], lambda s, r: s, crash, lambda c, o: None, cases=1))
    unpositioned = Target("spl", ["paint"], lambda s, r: s,
                          lambda c: (_ for _ in ()).throw(SplError("no position")), _check_spl,
                          cases=1)
    with pytest.raises(AssertionError, match="without a position"):
        run_target(unpositioned)
