"""A fast, batched, differentiable approximation of the paint domain (torch), for training.

Model of a stroke (calibrated per brush against libmypaint, see ``raster_calibration``): the
quadratic Bézier from the pen through ``via`` to ``to`` is cut into ``SEGMENTS`` straight
segments; each pixel's distance d to the polyline and the pressure p of its segment (and the pen speed v there, pixels per sample) give

    radius(p)   = size_px * radius_scale * exp(radius_pressure * p + radius_speed * v)
    coverage    = sigmoid((radius(p) - d) / (edge_abs + edge_rel * radius(p)))
    alpha       = coverage * clamp(opacity0 + opacity1 * p, 0, 1)
    canvas      = canvas * (1 - alpha) + colour * alpha        ("over", like a dab)

Pressure ramps along the stroke exactly as in the libmypaint backend (from the previous
stroke's end pressure when the pen is down). A ``move`` draws nothing. Everything is a tensor
operation over the batch and the pixels (no Python loop over either); it is differentiable in
``to``, ``via``, ``pressure``, ``size`` and ``color``. Its error against libmypaint is measured
(tests/interpreters/test_raster.py, bench/bench_raster.py), not assumed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..ast import Move, Stroke
from ..errors import SplTypeError
from ..lower import check_core

__all__ = ["BrushModel", "RasterPainter", "RasterInterpreter", "brush_model", "SEGMENTS"]

SEGMENTS = 8
CALIBRATION_FILE = Path(__file__).with_name("raster_calibration.json")


@dataclass(frozen=True)
class BrushModel:
    """Per-brush constants of the raster stroke model (see the module docstring)."""
    radius_scale: float = 1.0
    radius_pressure: float = 0.0
    opacity0: float = 1.0
    opacity1: float = 0.0
    edge_abs: float = 0.35
    edge_rel: float = 0.05
    radius_speed: float = 0.0   # log-radius change per pixel the pen moves between samples


def brush_model(name: str) -> BrushModel:
    """The calibrated model of a brush; uncalibrated brushes get the documented default."""
    table = json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.is_file() else {}
    entry = table.get(name)
    return BrushModel(**entry["model"]) if entry else BrushModel()


class RasterPainter:
    """B canvases painted together. Coordinates are canvas units; tensors live on ``device``."""

    def __init__(self, batch: int, settings: dict, size: int | None = None, device="cpu",
                 model: BrushModel | None = None, chunk: int = 64):
        self.batch, self.settings = batch, settings
        self.canvas_units = settings["canvas"]
        self.pixels = int(size or self.canvas_units)
        self.scale = self.pixels / self.canvas_units
        self.device = torch.device(device)
        self.model = model or brush_model(settings["brush"])
        self.chunk = chunk
        bg = settings["background"]
        self.background = torch.tensor([bg.r, bg.g, bg.b], dtype=torch.float32, device=self.device)
        coords = (torch.arange(self.pixels, dtype=torch.float32, device=self.device) + 0.5)
        gy, gx = torch.meshgrid(coords, coords, indexing="ij")
        self._pix = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)          # (HW, 2) pixels
        self._t = torch.linspace(0, 1, SEGMENTS + 1, device=self.device)      # (K+1,)
        self.reset()

    def reset(self, mask: torch.Tensor | None = None) -> None:
        """Start fresh canvases (all, or where ``mask`` is True): background, pen up at (0, 0)."""
        B, H = self.batch, self.pixels
        blank = self.background[None, :, None, None].expand(B, 3, H, H)
        if mask is None:
            self.canvas = blank.clone()
            self.pen = torch.zeros(B, 2, device=self.device)
            self.pen_down = torch.zeros(B, dtype=torch.bool, device=self.device)
            self.pressure = torch.zeros(B, device=self.device)
            return
        m = mask.to(self.device)
        self.canvas = torch.where(m[:, None, None, None], blank, self.canvas)
        self.pen = torch.where(m[:, None], torch.zeros_like(self.pen), self.pen)
        self.pen_down = self.pen_down & ~m
        self.pressure = torch.where(m, torch.zeros_like(self.pressure), self.pressure)

    def step(self, is_stroke, to, via, pressure, size, color) -> torch.Tensor:
        """Execute one statement per canvas. is_stroke (B,) bool; to, via (B, 2) canvas units;
        pressure, size (B,); color (B, 3). Moves ignore via/pressure/size/color."""
        is_stroke = is_stroke.to(self.device).bool()
        to, via = to.to(self.device).float(), via.to(self.device).float()
        pressure, size = pressure.to(self.device).float(), size.to(self.device).float()
        color = color.to(self.device).float()
        start_p = torch.where(self.pen_down, self.pressure, pressure)
        alpha = self.stroke_alpha(self.pen, via, to, start_p, pressure, size)    # (B, H, W)
        alpha = alpha * is_stroke[:, None, None].float()
        a = alpha[:, None]                                                       # (B, 1, H, W)
        self.canvas = self.canvas * (1 - a) + color[:, :, None, None] * a
        self.pen = to
        self.pen_down = torch.ones_like(self.pen_down)
        self.pressure = torch.where(is_stroke, pressure, self.pressure)
        return self.canvas

    def stroke_alpha(self, p0, p1, p2, start_p, end_p, size) -> torch.Tensor:
        """(B, H, W) ink opacity of quadratic strokes p0 → (p1) → p2, in chunks of the batch."""
        parts = [self._alpha_chunk(p0[i:i + self.chunk], p1[i:i + self.chunk], p2[i:i + self.chunk],
                                   start_p[i:i + self.chunk], end_p[i:i + self.chunk], size[i:i + self.chunk])
                 for i in range(0, p0.shape[0], self.chunk)]
        return torch.cat(parts).view(-1, self.pixels, self.pixels)

    def _alpha_chunk(self, p0, p1, p2, start_p, end_p, size):
        m, sc, t = self.model, self.scale, self._t
        u = 1 - t
        # curve points (b, K+1) in pixels, and the pressure ramp along them (b, K+1)
        w0, w1, w2 = (u * u)[None], (2 * u * t)[None], (t * t)[None]
        px = (w0 * p0[:, :1] + w1 * p1[:, :1] + w2 * p2[:, :1]) * sc
        py = (w0 * p0[:, 1:] + w1 * p1[:, 1:] + w2 * p2[:, 1:]) * sc
        press = start_p[:, None] + (end_p - start_p)[:, None] * t[None]
        # per segment: pressure at its middle → radius, edge width and opacity (b, K)
        pm = (press[:, :-1] + press[:, 1:]) / 2
        # pen speed: pixels moved between two of libmypaint's 50 samples along the segment
        speed = ((px[:, 1:] - px[:, :-1]) ** 2 + (py[:, 1:] - py[:, :-1]) ** 2).sqrt() * (SEGMENTS / 50)
        radius = (size * sc)[:, None] * m.radius_scale * torch.exp(m.radius_pressure * pm + m.radius_speed * speed)
        inv_edge = 1 / (m.edge_abs + m.edge_rel * radius)
        opacity = (m.opacity0 + m.opacity1 * pm).clamp(0, 1)
        gx, gy = self._pix[:, 0][None], self._pix[:, 1][None]                   # (1, HW)
        best = None
        for k in range(SEGMENTS):   # a loop over 8 segments keeps each tensor (b, HW) small
            ax, ay = px[:, k:k + 1], py[:, k:k + 1]
            abx, aby = px[:, k + 1:k + 2] - ax, py[:, k + 1:k + 2] - ay
            inv_ab2 = 1 / (abx * abx + aby * aby).clamp_min(1e-8)
            rx, ry = gx - ax, gy - ay                                            # (b, HW)
            tt = ((rx * abx + ry * aby) * inv_ab2).clamp(0, 1)
            cx, cy = rx - tt * abx, ry - tt * aby
            d = (cx * cx + cy * cy + 1e-6).sqrt()
            z = torch.sigmoid((radius[:, k:k + 1] - d) * inv_edge[:, k:k + 1]) * opacity[:, k:k + 1]
            best = z if best is None else torch.maximum(best, z)
        return best                                                              # (b, HW)


class RasterCanvas:
    """A batch-of-one painter behind the interpreter protocol."""

    def __init__(self, settings: dict, size: int | None = None):
        self.settings = settings
        self.painter = RasterPainter(1, settings, size)

    def execute(self, statement) -> None:
        if not isinstance(statement, (Move, Stroke)):
            raise SplTypeError(f"the raster backend draws move and stroke, not {type(statement).__name__}")
        check_core(statement, self.settings)
        stroke = isinstance(statement, Stroke)
        to = torch.tensor([[statement.to.x, statement.to.y]])
        if stroke:
            via = torch.tensor([[statement.via.x, statement.via.y]])
            args = (torch.tensor([statement.pressure]), torch.tensor([statement.size]),
                    torch.tensor([list(statement.color)]))
        else:
            via, args = to, (torch.zeros(1), torch.ones(1), torch.zeros(1, 3))
        with torch.no_grad():
            self.painter.step(torch.tensor([stroke]), to, via, *args)

    def image(self) -> np.ndarray:
        return self.painter.canvas[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy().astype(np.float32)

    def close(self) -> None:
        self.painter = None


class RasterInterpreter:
    """The ``raster`` backend: the calibrated approximation, one canvas at a time."""

    name = "raster"
    domains = ("paint",)

    def start(self, domain: str, settings: dict, size: int | None = None) -> RasterCanvas:
        if domain != "paint":
            raise SplTypeError(f"the raster backend draws the paint domain, not {domain!r}")
        return RasterCanvas(settings, size)
