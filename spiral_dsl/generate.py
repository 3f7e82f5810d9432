"""Random core programs from the action space, for pretraining data and random targets.

Programs are drawn as actions of an :class:`~spiral_dsl.actions.ActionSpec`, so every random
program is on the action grid and encodes back to the actions that made it. The ``pen`` style
is tuned so random strokes look like pen strokes: mostly continuing from the pen (few moves),
each stroke short relative to the canvas, control points near the chord (gentle curves), firm
pressure, small sizes and dark ink; ``uniform`` draws every slot uniformly (SPIRAL's random
agent). Scenes: 1..objects objects in distinct cells.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .actions import ActionSpec
from .errors import SplRangeError
from .program import Program

__all__ = ["PenStyle", "random_actions", "random_program"]


@dataclass(frozen=True)
class PenStyle:
    """Knobs of the ``pen`` style (defaults look like handwriting at canvas 64)."""
    move_probability: float = 0.15      # chance that a step lifts the pen
    stroke_length: float = 0.25         # max stroke chord, as a fraction of the canvas
    bend: float = 0.35                  # max control-point offset, as a fraction of the chord
    sizes: tuple[int, ...] = (0, 1, 2)  # allowed indices into the size slot (small brushes)
    min_pressure: int = 5               # lowest pressure index (0.6)
    ink: tuple[float, float] = (0.0, 0.15)  # range of each colour component (dark ink)


def _grid_index(spec: ActionSpec, x: float, y: float) -> int:
    """The index of the grid point nearest (x, y) (the ``end`` and ``control`` slots share the grid)."""
    canvas, grid = spec.settings["canvas"], spec.settings["grid"]
    step = canvas / grid
    col = min(max(round(x / step), 0), grid - 1)
    row = min(max(round(y / step), 0), grid - 1)
    return row * grid + col


def random_actions(spec: ActionSpec, length: int, rng: random.Random, style: str = "pen",
                   pen: PenStyle = PenStyle()) -> list[dict[str, int]]:
    """``length`` random actions of ``spec`` in the given style (``pen`` or ``uniform``)."""
    if style not in ("pen", "uniform"):
        raise SplRangeError(f"style={style!r} is not one of ['pen', 'uniform']")
    if spec.domain == "scene":
        return _random_scene(spec, length, rng)
    if style == "uniform":
        return [{s: rng.randrange(n) for s, n in spec.sizes.items()} for _ in range(length)]
    canvas = spec.settings["canvas"]
    levels = spec.slots["red"].n
    lo, hi = (round(v * (levels - 1)) for v in pen.ink)
    out = []
    x, y = rng.uniform(0.2, 0.8) * canvas, rng.uniform(0.2, 0.8) * canvas
    size = rng.choice(pen.sizes)
    colour = [rng.randint(lo, hi) for _ in range(3)]
    for step in range(length):
        if step == 0 or rng.random() < pen.move_probability:
            x, y = rng.uniform(0.15, 0.85) * canvas, rng.uniform(0.15, 0.85) * canvas
            out.append({"flag": 0, "end": _grid_index(spec, x, y)})
            continue
        reach = pen.stroke_length * canvas
        nx_ = min(max(x + rng.uniform(-reach, reach), 0), canvas)
        ny_ = min(max(y + rng.uniform(-reach, reach), 0), canvas)
        chord = ((nx_ - x) ** 2 + (ny_ - y) ** 2) ** 0.5
        off = rng.uniform(-pen.bend, pen.bend) * chord
        # control point: chord midpoint pushed sideways along the chord's normal
        mx, my = (x + nx_) / 2, (y + ny_) / 2
        if chord > 0:
            mx, my = mx - off * (ny_ - y) / chord, my + off * (nx_ - x) / chord
        out.append({"flag": 1, "end": _grid_index(spec, nx_, ny_),
                    "control": _grid_index(spec, min(max(mx, 0), canvas), min(max(my, 0), canvas)),
                    "size": size if rng.random() < 0.8 else rng.choice(pen.sizes),
                    "pressure": rng.randint(pen.min_pressure, spec.slots["pressure"].n - 1),
                    "red": colour[0], "green": colour[1], "blue": colour[2]})
        x, y = spec.slots["end"].values[out[-1]["end"]]
    return out


def _random_scene(spec: ActionSpec, length: int, rng: random.Random) -> list[dict[str, int]]:
    """``length`` objects (at most one per cell) in distinct cells, every slot uniform (the
    ``pen`` style has no meaning for scenes)."""
    cells = rng.sample(range(spec.slots["cell"].n), k=min(length, spec.slots["cell"].n))
    return [{"shape": rng.randrange(spec.slots["shape"].n), "cell": cell,
             "size": rng.randrange(spec.slots["size"].n), "red": rng.randrange(spec.slots["red"].n),
             "green": rng.randrange(spec.slots["green"].n), "blue": rng.randrange(spec.slots["blue"].n)}
            for cell in cells]


def random_program(spec: ActionSpec, length: int, rng: random.Random | int = 0, style: str = "pen"):
    """A random core :class:`~spiral_dsl.Program` of ``length`` statements."""
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    return Program.from_actions(spec, random_actions(spec, length, rng, style))
