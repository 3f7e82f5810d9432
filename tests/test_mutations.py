"""10,000 random mutations of valid programs raise only SplError subclasses, each quickly."""
import random
import re
import time

import pytest

from spiral_dsl import Program, SplError

SEEDS = [
    "paint canvas=64\nlet ink = #1a1a1a\ndef tick(at: Point, h: Num) {\n  move to at\n"
    "  stroke to at + (0, h) pressure 0.6 size 1 color ink\n}\nrepeat k in 0..5 {\n"
    "  tick((8 + 10 * k, 20), 12 + 2 * k)\n}\n",
    "paint grid=16 brush=\"classic/pen\"\nmove to (16, 32)\n"
    "stroke via (16, 10) to (32, 10) pressure 0.9 size 2 color #202020\n"
    "stroke via (48, 10) to (48, 32) pressure 0.9 size 2 color rgb(0.5, 0.25, 1)\n",
    "scene grid=16 objects=5\nlet teal = rgb(0, 0.667, 0.667)\nrepeat i in 0..4 {\n"
    "  place sphere at (3 + 3 * i, 4) size small color mix(teal, #ff0000, i / 4)\n}\n"
    "place cube at (8, 11) size large color #ff0000\n",
    "paint\nlet p = lerp((1, 2), (30, 40), 0.5)\nlet q = -(p - (1, 1)) * -1 / 2\n"
    "move to q\nstroke to p pressure .5 size 3 color mix(#000000, #ffffff, 0.25)\n",
]
TOKEN = re.compile(r"[A-Za-z_]+|[0-9.]+|#[0-9a-fA-F]+|\.\.|//|\S")
VOCAB = ["move", "to", "stroke", "via", "pressure", "size", "color", "place", "at", "let",
         "def", "repeat", "in", "..", "(", ")", "{", "}", ",", "=", "+", "-", "*", "/", ":",
         "1", "0", "64", "100000", "99999999", "0.5", ".", "#ff00ff", "rgb", "mix", "lerp",
         "Num", "Point", "Color", "sphere", "small", "paint", "scene", "k", "x", "\n", "//",
         "\"", "canvas=", "objects=", "9" * 400]


def mutate(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:  # character level
        i = rng.randrange(len(text) + 1)
        op = rng.choice("dir")
        ch = rng.choice("()[]{},.:=+-*/#\"\n 0123456789abzXZ_\x00é")
        if op == "d" and i < len(text):
            return text[:i] + text[i + 1:]
        if op == "r" and i < len(text):
            return text[:i] + ch + text[i + 1:]
        return text[:i] + ch + text[i:]
    tokens = [m.span() for m in TOKEN.finditer(text)]
    a, b = tokens[rng.randrange(len(tokens))]
    op = rng.choice("dir")
    word = rng.choice(VOCAB)
    if op == "d":
        return text[:a] + text[b:]
    if op == "r":
        return text[:a] + word + text[b:]
    return text[:a] + word + " " + text[a:]


@pytest.mark.slow
def test_ten_thousand_mutations_raise_only_spl_errors():
    rng = random.Random(1234)
    outcomes = {"ok": 0, "error": 0}
    slowest = 0.0
    for n in range(10_000):
        text = SEEDS[n % len(SEEDS)]
        for _ in range(rng.randint(1, 3)):
            text = mutate(text, rng)
        t0 = time.perf_counter()
        try:
            p = Program.parse(text, filename="mutant.spl")
            str(p)
            outcomes["ok"] += 1
        except SplError as e:
            assert e.line is None or e.line >= 1, text
            str(e)
            outcomes["error"] += 1
        except Exception as e:  # pragma: no cover - the failure we are looking for
            raise AssertionError(f"{type(e).__name__}: {e}\n--- program ---\n{text}") from e
        slowest = max(slowest, time.perf_counter() - t0)
        assert slowest < 1.0, f"mutant took {slowest:.2f}s:\n{text}"
    assert outcomes["ok"] > 100 and outcomes["error"] > 1000, outcomes
