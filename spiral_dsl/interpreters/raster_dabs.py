"""Where libmypaint's dabs fall, emulated for a batch of strokes at once (torch).

A stroke reaches the brush as the libmypaint backend sends it: 50 events along the quadratic
Bézier (pen → ``via`` → ``to``), 0.1 s apart, the pressure ramping from the start pressure to
the stroke's. Per event the brush's ``.myb`` mappings give the dab radius from pressure and
the smoothed speeds; the dab count advances by distance × (dabs per actual radius / radius +
dabs per basic radius / base radius); the dab position trails the pen by the per-dab smoothing
(``slow_tracking_per_dab``). Dabs fall where the count crosses an integer, so a stroke starts
and ends where libmypaint's first and last dabs do. :class:`DabPath` turns this into ``K``
samples along the dab path (centre, optical radius, opacity, mean jitter, dabs represented);
the partial dab count, trailing position and speeds carry over to the next stroke while the
pen stays down, as in libmypaint. Not emulated: the input smoothing ``slow_tracking``
(negligible at 0.1 s per event), random radius, and inputs other than pressure and speed.
"""
from __future__ import annotations

import functools
import math
import struct

import torch

from .raster_brush import BrushModel, Mapping

__all__ = ["DabPath", "EVENTS", "DT", "affine_scan", "curve"]

EVENTS = 50                                        # stroke_to calls per stroke after the first
DT = struct.unpack("f", struct.pack("f", 0.1))[0]  # their dtime, as the mypaint backend passes it
STATE = ("actual", "phase", "speed1", "speed2")    # brush state carried between strokes


def curve(m: Mapping, inputs: dict):
    """libmypaint's mapping: base + Σ over inputs of a piecewise-linear curve (linear beyond
    its ends; a flat or vertical segment gives its first y). A float when it has no inputs."""
    out = m.base
    for name, pts in m.inputs:
        x = torch.as_tensor(inputs[name])
        y = None
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            seg = x * 0 + y0 if (x0 == x1 or y0 == y1) else (y1 * (x - x0) + y0 * (x1 - x)) / (x1 - x0)
            y = seg if y is None else torch.where(x > x0, seg, y)
        out = out + y
    return out


def speed_input(gamma: float, v: torch.Tensor) -> torch.Tensor:
    """libmypaint's speed input from a smoothed speed in pixels per second."""
    g = math.exp(gamma)
    m = 0.015 * (45.0 + g)
    return torch.log(g + v) * m + (0.5 - m * math.log(45.0 + g))


@functools.lru_cache(maxsize=16)
def _ema(slowness: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-event exponential smoothing: ``smoothed = speeds @ w + start * decay``."""
    q = math.exp(-DT / slowness) if slowness > 0.001 else 0.0
    i = torch.arange(EVENTS)
    lag = (i[None, :] - i[:, None]).clamp(min=0).double()
    w = torch.where(i[None, :] >= i[:, None], (1 - q) * q ** lag, torch.zeros(()))
    return w.float(), (q ** (i + 1).double()).float()


def affine_scan(q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """x_j = q_j x_(j-1) + c_j along dim 1 (x_(-1) = 0), by recursive doubling: log2(n) rounds
    of whole-tensor operations instead of a Python loop over n."""
    grad = torch.is_grad_enabled() and (q.requires_grad or c.requires_grad)
    if not grad:
        q, c = q.clone(), c.clone()
    shift = 1
    while shift < q.shape[1]:
        if grad:
            c = torch.cat([c[:, :shift], c[:, shift:] + q[:, shift:] * c[:, :-shift]], 1)
            q = torch.cat([q[:, :shift], q[:, shift:] * q[:, :-shift]], 1)
        else:  # each product is formed before the in-place update that overlaps it
            c[:, shift:] += q[:, shift:] * c[:, :-shift]
            q[:, shift:] *= q[:, :-shift].clone()
        shift *= 2
    return c


class DabPath:
    """The dab emulation of one brush model, for ``samples`` samples per stroke on ``device``."""

    def __init__(self, model: BrushModel, samples: int, device):
        self.model = model
        self.t = (torch.arange(1, EVENTS + 1, dtype=torch.float64) / EVENTS).float().to(device)
        self.u = torch.linspace(0, 1, samples, device=device)
        trap = torch.ones(samples, device=device)       # trapezoid: the interior dabs shared out
        trap[0] = trap[-1] = 0.5
        self.trap = trap / max(samples - 1, 1)
        self.ends = torch.zeros(samples, device=device)  # plus half a dab at each end: 1 dab = 1
        self.ends[0] += 0.5
        self.ends[-1] += 0.5
        (w1, d1), (w2, d2) = _ema(model.speed1_slowness), _ema(model.speed2_slowness)
        self.ema_w = torch.cat([w1, w2], 1).to(device)   # both speeds smoothed by one matmul
        self.ema_decay = torch.cat([d1, d2]).to(device)

    def __call__(self, p0, p1, p2, start_p, end_p, size, pen_down, state):
        """Strokes p0 → (p1) → p2 in pixels, pressures ramping start_p → end_p, brush radius
        ``size`` pixels; ``state`` the brush state before (used where ``pen_down``). Returns the
        samples (each (b, K) or (b, K, 2)) and the brush state after."""
        m, t = self.model, self.t
        u = 1 - t
        P = torch.cat([p0[:, None], (u * u)[None, :, None] * p0[:, None] + (2 * u * t)[None, :, None]
                       * p1[:, None] + (t * t)[None, :, None] * p2[:, None]], 1)  # (b, 51, 2)
        press = torch.cat([start_p[:, None], start_p[:, None] + (end_p - start_p)[:, None] * t], 1)
        dist = (P[:, 1:] - P[:, :-1]).pow(2).sum(-1).add(1e-12).sqrt()          # (b, 50)
        start = torch.stack([state["speed1"], state["speed2"]], 1)             # (b, 2)
        sm = (dist / DT) @ self.ema_w + start.repeat_interleave(EVENTS, 1) * self.ema_decay
        speed1 = torch.cat([start[:, :1], sm[:, :EVENTS]], 1)                  # (b, 51)
        speed2 = torch.cat([start[:, 1:], sm[:, EVENTS:]], 1)
        inputs = {"pressure": press, "random": 0.5, "speed1": speed_input(m.speed1_gamma, speed1),
                  "speed2": speed_input(m.speed2_gamma, speed2)}
        # SPIRAL sets the radius's base to log(size): the brush's own base is replaced
        radius = (torch.log(size)[:, None] + (curve(m.radius, inputs) - m.radius.base)).exp()
        radius = radius.clamp(0.2, 1000.0).expand_as(press)
        dn = dist * (m.dabs_per_actual_radius / radius[:, :-1]
                     + m.dabs_per_basic_radius / size.clamp(0.2, 1000.0)[:, None]) + DT * m.dabs_per_second
        n = torch.cat([state["phase"][:, None], state["phase"][:, None] + dn.cumsum(1)], 1)
        a0 = torch.where(pen_down[:, None], state["actual"], p0)
        tau = m.slow_tracking_per_dab
        if tau > 0.001:  # a_j = q_j a_(j-1) + (1 - q_j) P_j, q_j = exp(-dn_j / tau)
            q = torch.exp(-dn / tau)
            A = affine_scan(torch.cat([torch.zeros_like(q[:, :1]), q], 1)[..., None],
                            torch.cat([a0[:, None], (1 - q)[..., None] * P[:, 1:]], 1))
        else:
            A = torch.cat([a0[:, None], P[:, 1:]], 1)
        # dabs at integer counts 1 .. floor(n_50); K samples spread evenly over them, each
        # interpolated between the events around it (one gather for every quantity)
        last = torch.floor(n[:, -1].detach())
        count = last.clamp(min=0)
        mk = 1 + (last - 1).clamp(min=0)[:, None] * self.u[None]                   # (b, K)
        j = torch.searchsorted(n.detach().contiguous(), mk.contiguous()).clamp(1, EVENTS)
        ev = torch.stack([n, P[..., 0], P[..., 1], A[..., 0], A[..., 1], press, speed1, speed2, radius], -1)
        prev = torch.gather(ev, 1, (j - 1)[..., None].expand(-1, -1, ev.shape[-1]))  # (b, K, 9)
        nxt = torch.gather(ev, 1, j[..., None].expand(-1, -1, ev.shape[-1]))
        f = ((mk - prev[..., 0]) / (nxt[..., 0] - prev[..., 0]).clamp(min=1e-6)).clamp(0, 1)
        at = prev + (nxt - prev) * f[..., None]
        centres = at[..., 1:3]
        if tau > 0.001:  # the trailing position moves toward the pen within the event too
            qk = torch.exp(-(mk - prev[..., 0]).clamp(min=0) / tau)[..., None]
            centres = qk * prev[..., 3:5] + (1 - qk) * centres
        k_in = {"pressure": at[..., 5], "random": 0.5, "speed1": speed_input(m.speed1_gamma, at[..., 6]),
                "speed2": speed_input(m.speed2_gamma, at[..., 7])}
        samples = {"centre": centres, "weight": ((count - 1).clamp(min=0)[:, None] * self.trap + self.ends)
                   * (count > 0).float()[:, None]}
        samples.update(self._dab_look(at[..., 8], k_in, size))
        new = {"actual": A[:, -1], "phase": n[:, -1] - last, "speed1": speed1[:, -1], "speed2": speed2[:, -1]}
        return samples, new

    def _dab_look(self, radius, k_in, size) -> dict:
        """Optical radius, opacity and jitter of the dabs at the samples."""
        m, ones = self.model, torch.ones_like(radius)
        hard = (curve(m.hardness, k_in) * ones).clamp(0.0, 1.0)
        optical = radius * (1 + hard) / 2       # libmypaint keeps this when it softens a dab
        opacity = ((curve(m.opaque, k_in) * ones).clamp(min=0.0) * curve(m.opaque_multiply, k_in)).clamp(0.0, 1.0)
        if m.opaque_linearize:
            per_pixel = max((m.dabs_per_actual_radius + m.dabs_per_basic_radius) * 2.0, 1.0)
            per_pixel = 1.0 + m.opaque_linearize * (per_pixel - 1.0)
            opacity = 1 - (1 - opacity).clamp(1e-20, 1.0) ** (1.0 / per_pixel)
        if m.anti_aliasing > 0:  # a dab fading over less than anti_aliasing pixels is softened to
            # a dab that holds (r_o^2 - aa^2/4) / r_o^2 of its ink, none when r_o <= aa / 2
            aa = m.anti_aliasing
            mass = (1 - (aa / 2) ** 2 / optical.clamp(min=1e-3) ** 2).clamp(0.0, 1.0)
            opacity = opacity * torch.where(radius * (1 - hard) < aa, mass, ones)
        jitter = (curve(m.offset_by_random, k_in) * ones).clamp(min=0.0) * size[:, None]
        return {"radius": optical * m.render.radius_scale, "opacity": opacity, "jitter": jitter}
