"""A fast, batched, differentiable approximation of the paint domain (torch), for training.

:class:`RasterPainter` implements the batch contract (:class:`~.base.BatchCanvas`) natively;
:class:`RasterCanvas` is a batch of one behind the single-canvas contract.

Model of a stroke (one :meth:`RasterPainter.paint` paints one statement on each of B canvases):

1. **Dabs, emulated** (:mod:`.raster_dabs`): where libmypaint's dabs fall along the stroke, how
   big and opaque they are, from the brush's own ``.myb`` dynamics; ``K`` samples of that path.
2. **Ink field.** Each sample is a Gaussian of width ``sigma`` × optical radius (widened by the
   mean jitter and ``blur``), weighted by the dabs it stands for × their opacity. Gaussians are
   separable, so the field over the canvas is one small matrix product per stroke:
   ``F = (Gy · w)ᵀ @ Gx``.
3. **Ink.** With ``g = exp(log_gain)`` and ``gamma = gamma0 + gamma1 · radius`` (pixels), either
   ``alpha = 1 - exp(-(g F) ** gamma)`` (``optical``: optical depth adding up, for soft and
   translucent brushes; ``gamma`` = 1 is exact for many faint dabs) or ``alpha = sigmoid(gamma
   · log(g F))`` (``edge``: the sharp edge of a union of opaque dabs, for pens), then
   ``canvas = canvas · (1 - alpha) + colour · alpha`` (the "over" of every dab of one colour).

The render constants are fitted per brush against libmypaint (``scripts/calibrate_raster.py``),
the dynamics read from the brush file (:mod:`.raster_brush`). No Python loop runs over pixels
or over the batch; everything is differentiable in ``to``, ``via``, ``pressure``, ``size`` and
``color`` (except through the rounding of the dab count). Its error against libmypaint is
measured (tests/interpreters/test_raster.py, bench/bench_raster.py), not assumed.
"""
from __future__ import annotations

import math
import sys

import numpy as np
import torch

from ..ast import Move, Stroke
from ..errors import SplRangeError, SplStateError, SplTypeError
from ..lower import check_core
from .base import reset_mask
from .raster_brush import BrushModel, brush_model
from .raster_dabs import STATE, DabPath

__all__ = ["RasterPainter", "RasterCanvas", "RasterInterpreter", "BrushModel", "brush_model", "SAMPLES"]

SAMPLES = 24                 # Gaussians per stroke along the dab path
CHUNK = 128                  # strokes rendered together (bounds memory at any batch)
_LOG80 = math.log(80.0)      # ink saturates: exp(-80) is 0 to float32
# Exponents stay in [-80, 80] (Gaussians above exp(-30)) so that nothing is subnormal: subnormal
# float arithmetic is ~30x slower on x86.


class RasterPainter:
    """B canvases painted together, one statement each per :meth:`step`: the
    :class:`~.base.BatchCanvas` contract, natively (see there for what each method returns).

    ``canvas`` is (B, 3, H, W) float32 in [0, 1]; coordinates and sizes are canvas units, scaled
    to ``size`` pixels (default: the header's ``canvas``). Per canvas: ``pen`` (B, 2),
    ``pen_down`` (B,), ``pressure`` (B,) and the brush state ``brush`` (reset where ``pen`` is
    changed from outside); :meth:`state` and :meth:`load_state` carry all of it. Each step
    returns a new canvas tensor (canvases handed out are never written again; the buffer of one
    nothing references any more is reused), or, with ``inplace=True``, updates ``canvas`` in
    place. :meth:`paint` is the step with the fields as separate tensors (and gradients).
    """

    def __init__(self, batch: int, settings: dict, size: int | None = None, device="cpu",
                 model: BrushModel | None = None, samples: int = SAMPLES, validate: bool = True,
                 inplace: bool = False):
        self.batch, self.settings, self.inplace, self.validate = batch, settings, inplace, validate
        self.canvas_units = float(settings["canvas"])
        self.pixels = int(size or settings["canvas"])
        if self.pixels < 1:
            raise SplRangeError(f"size={size!r} is out of range: a canvas is at least 1 pixel")
        self.scale = self.pixels / self.canvas_units
        self.device = torch.device(device)
        self.model = model or brush_model(settings["brush"])
        self.dabs = DabPath(self.model, samples, self.device)
        bg = settings["background"]
        self.background = torch.tensor([bg.r, bg.g, bg.b], dtype=torch.float32, device=self.device)
        x = torch.arange(self.pixels, dtype=torch.float32, device=self.device) + 0.5 - self.pixels / 2
        self._powers = torch.stack([x * x, x, torch.ones_like(x)])   # centred, for precision
        self._work: dict[str, torch.Tensor] = {}
        self._spare: torch.Tensor | None = None
        self.canvas = None
        self._closed = False
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self, mask: torch.Tensor | None = None) -> None:
        """Fresh canvases (all, or where ``mask`` is True): background, pen up at (0, 0)."""
        self._check_open()
        B, H, dev = self.batch, self.pixels, self.device
        blank = self.background[None, :, None, None].expand(B, 3, H, H)
        zeros = lambda *s: torch.zeros(B, *s, device=dev)  # noqa: E731
        fresh = {"pen": zeros(2), "pen_down": zeros().bool(), "pressure": zeros(),
                 "brush": {k: zeros(2) if k in ("actual", "at") else zeros() for k in (*STATE, "at")}}
        old = self.canvas
        mask = None if mask is None else reset_mask(mask, B).to(dev)
        m4 = None if mask is None else mask[:, None, None, None]
        if old is None or old.shape != blank.shape or old.requires_grad:
            canvas = blank.clone() if m4 is None else torch.where(m4, blank, old)
        else:
            out = self._out(old)
            canvas = out.copy_(blank) if m4 is None else torch.where(m4, blank, old, out=out)
            if out is not old:
                self._spare = old
        if mask is not None:
            kept = self.state()
            fresh = _where(mask, fresh, {k: v for k, v in kept.items() if k != "canvas"})
        self.load_state({"canvas": canvas, **fresh})

    def state(self) -> dict:
        """Everything that a later step depends on (tensors, not copied: later steps make new
        ones, except with ``inplace=True``)."""
        self._check_open()
        return {"canvas": self.canvas, "pen": self.pen, "pen_down": self.pen_down,
                "pressure": self.pressure, "brush": dict(self.brush)}

    def load_state(self, state: dict) -> None:
        """Set the state from :meth:`state` of a painter with the same settings (any batch)."""
        self._check_open()
        self.canvas, self.pen, self.pen_down = state["canvas"], state["pen"], state["pen_down"]
        self.pressure, self.brush = state["pressure"], dict(state["brush"])
        self.batch = self.canvas.shape[0]

    def image(self) -> torch.Tensor:
        """The canvases, (B, 3, H, W) float32 in [0, 1] (the tensor itself, not a copy)."""
        self._check_open()
        return self.canvas

    def close(self) -> None:
        """Drop the canvases and scratch buffers; later calls raise ``SplStateError``."""
        self._closed = True
        self.canvas = self._spare = None
        self._work = {}

    def _check_open(self) -> None:
        if self._closed:
            raise SplStateError("this canvas is closed")

    # ------------------------------------------------------------------ painting
    def step(self, values) -> torch.Tensor:
        """Execute one statement per canvas, given as the paint fields' values (``flag``,
        ``to``, ``via``, ``pressure``, ``size``, ``color``; see :class:`~.base.BatchCanvas`),
        and return the canvas."""
        missing = [k for k in ("flag", "to", "via", "pressure", "size", "color") if k not in values]
        if missing:
            raise SplTypeError(f"step values lack the paint fields {missing}")
        return self.paint(torch.as_tensor(values["flag"], device=self.device) == 1, values["to"],
                          values["via"], values["pressure"], values["size"], values["color"])

    def paint(self, is_stroke, to, via, pressure, size, color) -> torch.Tensor:
        """Execute one statement per canvas and return the canvas. ``is_stroke`` (B,) bool (else
        a move to ``to``); ``to``, ``via`` (B, 2) and ``size`` (B,) in canvas units; ``pressure``
        (B,) and ``color`` (B, 3) in [0, 1]. A move ignores the other arguments. Differentiable
        in all but ``is_stroke``."""
        self._check_open()
        dev = self.device
        is_stroke = torch.as_tensor(is_stroke, device=dev).bool()
        to, via, pressure, size, color = (torch.as_tensor(t, device=dev).float()
                                          for t in (to, via, pressure, size, color))
        if self.validate:
            self._check(is_stroke, to, via, pressure, size, color)
        s, brush = self.scale, dict(self.brush)
        # brush state left at another pen position (``pen`` set from outside): start it afresh
        stale = (brush["at"] != self.pen).any(1)
        brush["actual"] = torch.where(stale[:, None], self.pen * s, brush["actual"])
        for k in ("phase", "speed1", "speed2"):
            brush[k] = torch.where(stale, torch.zeros_like(brush[k]), brush[k])
        n_strokes = int(is_stroke.sum())
        if n_strokes:
            # many strokes: paint every row (a move's with no ink), no copies; few: just those
            idx = None if 2 * n_strokes >= self.batch else is_stroke.nonzero().squeeze(1)

            def sel(t):
                return t if idx is None else t.index_select(0, idx)

            via = torch.where(is_stroke[:, None], via, to)      # a move's unused arguments
            size = torch.where(is_stroke, size, torch.ones_like(size))
            start_p = torch.where(self.pen_down, self.pressure, pressure)
            samples, new = self.dabs(sel(self.pen) * s, sel(via) * s, sel(to) * s, sel(start_p), sel(pressure),
                                     sel(size) * s, sel(self.pen_down), {k: sel(v) for k, v in brush.items()})
            old = self.canvas
            grad = torch.is_grad_enabled() and any(t.requires_grad for t in (old, color, *samples.values()))
            if idx is None:
                samples["weight"] = samples["weight"] * is_stroke[:, None].float()
                self.canvas = self._paint(old, samples, color, None if grad else self._out(old))
            else:
                part = sel(old)
                painted = self._paint(part, samples, sel(color), None if grad else torch.empty_like(part))
                if grad:
                    self.canvas = old.index_copy(0, idx, painted)
                else:
                    out = self._out(old)
                    self.canvas = (out if out is old else out.copy_(old)).index_copy_(0, idx, painted)
                new = {k: brush[k].index_copy(0, idx, new[k]) for k in new}
            brush.update(new)
            if self.canvas is not old:
                self._spare = old
        moved = ~is_stroke                                        # a move resets the brush there
        brush["actual"] = torch.where(moved[:, None], to * s, brush["actual"])
        for k in ("phase", "speed1", "speed2"):
            brush[k] = torch.where(moved, torch.zeros_like(brush[k]), brush[k])
        brush["at"] = to
        self.brush = brush
        self.pressure = torch.where(is_stroke, pressure, self.pressure)
        self.pen, self.pen_down = to, is_stroke
        return self.canvas

    def _check(self, is_stroke, to, via, pressure, size, color) -> None:
        n = self.batch
        for name, t, shape in (("is_stroke", is_stroke, (n,)), ("to", to, (n, 2)), ("via", via, (n, 2)),
                               ("pressure", pressure, (n,)), ("size", size, (n,)), ("color", color, (n, 3))):
            if tuple(t.shape) != shape:
                raise SplTypeError(f"{name} has shape {tuple(t.shape)}; expected {shape}")
        c = self.canvas_units
        for name, t, lo, hi, open_lo in (("to", to, 0, c, False), ("via", via[is_stroke], 0, c, False),
                                         ("pressure", pressure[is_stroke], 0, 1, False),
                                         ("size", size[is_stroke], 0, c, True),
                                         ("color", color[is_stroke], 0, 1, False)):
            bad = ~torch.isfinite(t) | (t > hi) | ((t <= lo) if open_lo else (t < lo))
            if bool(bad.any()):
                rng = f"({lo:g}, {hi:g}]" if open_lo else f"[{lo:g}, {hi:g}]"
                raise SplRangeError(f"{name}={float(t[bad][0]):g} is out of range {rng}")

    def _out(self, canvas) -> torch.Tensor:
        """Where the next canvas goes when no gradient is wanted: ``canvas`` itself when
        ``inplace``, else the buffer of an earlier canvas that nothing references any more, else
        a new tensor (whose page faults cost up to half a step; all of them above 32 MB)."""
        if self.inplace:
            return canvas
        spare, self._spare = self._spare, None
        # unreferenced: only the local name and getrefcount's argument hold it, and no view,
        # numpy array or autograd graph shares its storage
        if (spare is not None and spare.shape == canvas.shape and sys.getrefcount(spare) == 2
                and _storage_uses(spare) == _LONE_STORAGE_USES):
            return spare
        return torch.empty_like(canvas)

    def _buffer(self, name: str, shape: tuple) -> torch.Tensor:
        """A reused scratch tensor (no-gradient path): no allocation, no page faults."""
        size = math.prod(shape)
        if name not in self._work or self._work[name].numel() < size:
            self._work[name] = torch.empty(size, device=self.device)
        return self._work[name][:size].view(shape)

    def _paint(self, canvas, samples, color, out=None):
        """Composite each stroke's ink onto its canvas in chunks of the batch, into ``out``; by
        differentiable operations into a new tensor when ``out`` is None."""
        parts = []
        for i in range(0, canvas.shape[0], CHUNK):
            sl = slice(i, i + CHUNK)
            keep = self._keep({k: v[sl] for k, v in samples.items()}, out is None)   # (b, 1, H, W)
            col = color[sl, :, None, None]
            if out is None:
                parts.append(col + (canvas[sl] - col) * keep)
            else:  # one fused pass
                torch.lerp(col.expand_as(canvas[sl]), canvas[sl], keep, out=out[sl])
        return out if out is not None else (parts[0] if len(parts) == 1 else torch.cat(parts))

    def _keep(self, smp, grad: bool) -> torch.Tensor:
        """(b, 1, H, W): the fraction of the old canvas that shows through, 1 - alpha."""
        r = self.model.render
        rad = smp["radius"]
        core = (r.sigma * rad) ** 2
        var = core + smp["jitter"] ** 2 + r.blur                                    # (b, K)
        optical1 = r.transfer == "optical" and r.gamma1 == 0 and r.gamma0 == 1
        # the gain is folded into the weights, negated for alpha = 1 - exp(-g F) (a pass less)
        amp = smp["weight"] * smp["opacity"] * core / var * (-math.exp(r.log_gain) if optical1 else math.exp(r.log_gain))
        # -(x - c)^2 / (2 var) of each sample at each column and row: one matmul with [x^2, x, 1]
        inv = torch.cat([-0.5 / var] * 2, 1)                                         # (b, 2K)
        c = torch.cat([smp["centre"][..., 0], smp["centre"][..., 1]], 1) - self.pixels / 2
        coef = torch.stack([inv, -2 * inv * c, inv * c * c], -1)                      # (b, 2K, 3)
        b, K, H = amp.shape[0], amp.shape[1], self.pixels
        if grad:
            g = torch.exp(torch.matmul(coef, self._powers).clamp(min=-30.0))
            field = torch.bmm((g[:, K:] * amp[..., None]).transpose(1, 2), g[:, :K])
        else:
            g = torch.matmul(coef, self._powers, out=self._buffer("g", (b, 2 * K, H))).clamp_(min=-30.0).exp_()
            g[:, K:].mul_(amp[..., None])
            field = torch.bmm(g[:, K:].transpose(1, 2), g[:, :K], out=self._buffer("field", (b, H, H)))
        if optical1:
            return (torch.exp(field.clamp(min=-80.0)) if grad else field.clamp_(min=-80.0).exp_())[:, None]
        weight = smp["weight"].sum(1)
        gamma = (r.gamma0 + r.gamma1 * (smp["weight"] * rad).sum(1) / weight.clamp(min=1e-6))[:, None, None]
        if r.transfer == "optical":     # exp(-(g F) ** gamma), finite: saturated pixels are inked
            if grad:
                return torch.exp(-torch.exp((torch.log(field.clamp(min=1e-30)) * gamma).clamp(max=_LOG80)))[:, None]
            return field.clamp_(min=1e-30).log_().mul_(gamma).clamp_(max=_LOG80).exp_().neg_().exp_()[:, None]
        if grad:                        # edge: sigmoid(-gamma log(g F))
            keep = torch.sigmoid((torch.log(field.clamp(min=1e-30)) * -gamma).clamp(max=80.0))
        else:
            keep = field.clamp_(min=1e-30).log_().mul_(-gamma).clamp_(max=80.0).sigmoid_()
        # the edge ignores how much ink the dabs hold: faint dabs (tiny softened ones) cap alpha
        # at 1 - (1 - mean opacity) ** (dabs overlapping a point)
        mean_opacity = (smp["weight"] * smp["opacity"]).sum(1) / weight.clamp(min=1e-6)
        overlap = weight.clamp(1.0, max(1.0, 2 * self.model.dabs_per_actual_radius))
        peak = 1 - (1 - mean_opacity).clamp(min=0.0) ** overlap
        peak = torch.where(peak < 0.999, peak, torch.ones_like(peak))[:, None, None]  # 0.1%: skip
        if bool((peak < 1).any()):
            keep = keep * peak + (1 - peak) if grad else keep.mul_(peak).add_(1 - peak)
        return keep[:, None]


def _storage_uses(t: torch.Tensor) -> int:
    """How many tensors, views and arrays share ``t``'s storage (-1 where torch cannot say)."""
    count = getattr(torch._C, "_storage_Use_Count", None)
    return -1 if count is None else count(t.untyped_storage()._cdata)


_LONE_STORAGE_USES = _storage_uses(torch.empty(1))   # an unshared tensor's (unknown: never reuse)
_LONE_STORAGE_USES = _LONE_STORAGE_USES if _LONE_STORAGE_USES >= 0 else -2


def _where(mask, a, b):
    if isinstance(a, dict):
        return {k: _where(mask, a[k], b[k]) for k in a}
    return torch.where(mask.view(-1, *([1] * (a.dim() - 1))), a, b)


class RasterCanvas:
    """A batch-of-one painter behind the interpreter protocol."""

    def __init__(self, settings: dict, size: int | None = None):
        self.settings = settings
        self.painter = RasterPainter(1, settings, size, validate=False)   # check_core validates

    def execute(self, statement) -> None:
        if self.painter is None:
            raise SplStateError("this canvas is closed")
        if not isinstance(statement, (Move, Stroke)):
            raise SplTypeError(f"the raster backend draws move and stroke, not {type(statement).__name__}")
        check_core(statement, self.settings)   # NaN and out-of-range values → SplRangeError
        stroke = isinstance(statement, Stroke)
        to = torch.tensor([[statement.to.x, statement.to.y]])
        if stroke:
            via = torch.tensor([[statement.via.x, statement.via.y]])
            args = (torch.tensor([statement.pressure]), torch.tensor([statement.size]),
                    torch.tensor([list(statement.color)]))
        else:
            via, args = to, (torch.zeros(1), torch.ones(1), torch.zeros(1, 3))
        with torch.no_grad():
            self.painter.paint(torch.tensor([stroke]), to, via, *args)

    def image(self) -> np.ndarray:
        if self.painter is None:
            raise SplStateError("this canvas is closed")
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

    def start_batch(self, domain: str, settings: dict, batch: int, size: int | None = None,
                    device="cpu") -> RasterPainter:
        """``batch`` fresh canvases behind the batch contract, natively."""
        if domain != "paint":
            raise SplTypeError(f"the raster backend draws the paint domain, not {domain!r}")
        return RasterPainter(batch, settings, size, device=device)
