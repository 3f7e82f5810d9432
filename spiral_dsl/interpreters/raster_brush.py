"""The brush dynamics the raster interpreter emulates, read from a MyPaint ``.myb`` file.

A :class:`BrushModel` holds the part of a libmypaint brush that decides where dabs land and how
big and opaque they are (the radius, hardness, opacity and jitter mappings of pressure and
speed, the dab spacing, the per-dab position smoothing), plus the few render constants that
``scripts/calibrate_raster.py`` fits against real libmypaint renders. It is plain data (no torch):
:mod:`.raster` evaluates it. Inputs other than pressure, speed1, speed2 and random are taken as
0 (random as its mean, 0.5); settings the model does not name are ignored.

Calibrated brushes are stored whole in ``raster_calibration.json`` (so they render without the
brush files installed); any other brush is read from its ``.myb`` with :data:`DEFAULT_RENDER`.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Mapping", "BrushModel", "RenderConstants", "DEFAULT_RENDER", "brush_model",
           "from_myb", "CALIBRATION_FILE", "INPUTS"]

CALIBRATION_FILE = Path(__file__).with_name("raster_calibration.json")
#: The brush inputs the raster emulates; any other input of a mapping counts as 0.
INPUTS = ("pressure", "speed1", "speed2", "random")


@dataclass(frozen=True)
class Mapping:
    """A libmypaint setting: ``base`` plus, per input, a piecewise-linear curve of points."""
    base: float = 0.0
    inputs: tuple[tuple[str, tuple[tuple[float, float], ...]], ...] = ()

    @classmethod
    def from_json(cls, entry: dict) -> Mapping:
        curves = tuple((name, tuple((float(x), float(y)) for x, y in pts))
                       for name, pts in sorted(entry.get("inputs", {}).items())
                       if name in INPUTS and len(pts) >= 2)
        return cls(float(entry.get("base_value", 0.0)), curves)

    def to_json(self) -> dict:
        return {"base_value": self.base, "inputs": {n: [list(p) for p in pts] for n, pts in self.inputs}}


@dataclass(frozen=True)
class RenderConstants:
    """How the raster turns the emulated dabs into ink (fitted per brush; see raster.py).

    ``sigma``: Gaussian width of a dab as a fraction of its optical radius; ``log_gain``: log
    scale of the ink field; ``gamma0`` + ``gamma1`` × radius (pixels): sharpness of the ink edge;
    ``radius_scale``: a correction of the emulated radius; ``blur``: variance (pixels²) added to
    every Gaussian (1/12 is a pixel's box); ``transfer``: ``optical`` (optical depth adds up)
    or ``edge`` (a logistic edge, for opaque dabs).
    """
    transfer: str = "optical"
    sigma: float = 0.3
    log_gain: float = 0.0
    gamma0: float = 1.0
    gamma1: float = 0.0
    radius_scale: float = 1.0
    blur: float = 1.0 / 12.0


DEFAULT_RENDER = RenderConstants()


@dataclass(frozen=True)
class BrushModel:
    """The dab dynamics of one brush (libmypaint setting names) and its render constants."""
    name: str = "default"
    radius: Mapping = Mapping()             # radius_logarithmic (its base is replaced by log size)
    hardness: Mapping = Mapping(0.8)
    opaque: Mapping = Mapping(1.0)
    opaque_multiply: Mapping = Mapping(1.0)
    opaque_linearize: float = 0.0
    offset_by_random: Mapping = Mapping()   # dab jitter, in units of the base radius
    radius_by_random: float = 0.0
    anti_aliasing: float = 1.0
    dabs_per_actual_radius: float = 2.0
    dabs_per_basic_radius: float = 0.0
    dabs_per_second: float = 0.0
    slow_tracking_per_dab: float = 0.0
    speed1_gamma: float = 4.0
    speed2_gamma: float = 4.0
    speed1_slowness: float = 0.04
    speed2_slowness: float = 0.8
    render: RenderConstants = DEFAULT_RENDER

    def to_json(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to_json() if isinstance(v, Mapping) else (
                dataclasses.asdict(v) if isinstance(v, RenderConstants) else v)
        return out

    @classmethod
    def from_json(cls, d: dict) -> BrushModel:
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if f.type == "Mapping":
                v = Mapping.from_json(v)
            elif f.type == "RenderConstants":
                v = RenderConstants(**v)
            kw[f.name] = v
        return cls(**kw)


def from_myb(name: str, render: RenderConstants = DEFAULT_RENDER) -> BrushModel:
    """The model of a brush read from its ``.myb`` file (found like the mypaint backend does)."""
    from .libmypaint import brush_path
    settings = json.loads(brush_path(name).read_text())["settings"]

    def mapping(key, default=0.0):
        return Mapping.from_json(settings[key]) if key in settings else Mapping(default)

    def base(key, default):
        return float(settings[key]["base_value"]) if key in settings else default

    return BrushModel(
        name=name, radius=mapping("radius_logarithmic"), hardness=mapping("hardness", 0.8),
        opaque=mapping("opaque", 1.0), opaque_multiply=mapping("opaque_multiply", 0.0),
        opaque_linearize=base("opaque_linearize", 0.9),
        offset_by_random=mapping("offset_by_random"), radius_by_random=base("radius_by_random", 0.0),
        anti_aliasing=base("anti_aliasing", 1.0),
        dabs_per_actual_radius=base("dabs_per_actual_radius", 2.0),
        dabs_per_basic_radius=base("dabs_per_basic_radius", 0.0),
        dabs_per_second=base("dabs_per_second", 0.0),
        slow_tracking_per_dab=base("slow_tracking_per_dab", 0.0),
        speed1_gamma=base("speed1_gamma", 4.0), speed2_gamma=base("speed2_gamma", 4.0),
        speed1_slowness=base("speed1_slowness", 0.04), speed2_slowness=base("speed2_slowness", 0.8),
        render=render)


def calibration_table(path: Path = CALIBRATION_FILE) -> dict:
    """The stored calibration: brush name → {"model": ..., figures of the fit}."""
    return json.loads(path.read_text()) if path.is_file() else {}


@functools.lru_cache(maxsize=32)
def brush_model(name: str) -> BrushModel:
    """The calibrated model of ``name``, else its ``.myb`` read with :data:`DEFAULT_RENDER`."""
    entry = calibration_table().get(name)
    if entry is not None:
        return BrushModel.from_json(entry["model"])
    return from_myb(name)
