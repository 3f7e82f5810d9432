"""SPIRAL's networks, sized for a CPU: the policy and the discriminator (critic).

Policy (Ganin et al. 2018, fig. 11, downsampled early):

    canvas (B, 3, H, W) [+ target (B, 3, H, W)] ─ conv stride 2 ×3 ─> (B, C, H/8, W/8)
    previous action: Σ_slot embed(a_slot) ─ MLP ─> (B, C) broadcast-added to the map
    residual blocks ─ flatten ─ linear ─> LSTM core (B, hidden)
    autoregressive decoder over the ActionSpec's slots in DAG order: slot s sees
        z + Σ_{p ancestor of s} embed_p(a_p)
      location slots (grid² choices): MLP → (16, 4, 4) → transposed convs → grid×grid logits
      other slots: MLP → n logits
    value head: linear(hidden → 1)

``PolicyConfig.arch = "lean"`` swaps the encoder, the residual blocks and the spatial location
heads for cheaper ones of the same role (:mod:`synth.lean`); ``"spiral"`` (the default, and every
checkpoint written before the field existed) is the network above, unchanged.

The heads are generated from the ActionSpec: adding a statement or slot to the language adds
a head. Slots a statement does not use (a ``move`` uses ``flag`` and ``end``) are masked out of
log-probabilities and entropies.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import networkx as nx
import torch
import torch.nn.functional as F
from torch import nn

from spiral_dsl.actions import ActionSpec

from .config import PolicyConfig  # the network's shape is part of the training config
from .lean import BottleneckBlock, ShuffleLocationHead, lean_encoder

__all__ = ["PolicyConfig", "Policy", "Discriminator", "PolicyOutput", "categorical"]


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, padding=1)
        self.b = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.b(F.relu(self.a(F.relu(x))))


class LocationHead(nn.Module):
    """z (B, hidden) → logits over a grid×grid map (B, grid²), row-major."""

    reads_map = False

    def __init__(self, hidden: int, grid: int):
        super().__init__()
        self.grid = grid
        ups = max(0, int(math.log2(grid // 4))) if grid >= 4 and grid & (grid - 1) == 0 else -1
        if ups < 0:  # not a power of two: a plain linear head
            self.net = nn.Linear(hidden, grid * grid)
            self.deconv = None
        else:
            self.net = nn.Linear(hidden, 16 * 4 * 4)
            layers = []
            for _ in range(ups):
                layers += [nn.ConvTranspose2d(16, 16, 4, stride=2, padding=1), nn.ReLU()]
            layers += [nn.Conv2d(16, 1, 3, padding=1)]
            self.deconv = nn.Sequential(*layers)

    def forward(self, z):
        if self.deconv is None:
            return self.net(z)
        x = F.relu(self.net(z)).view(-1, 16, 4, 4)       # (B, 16, 4, 4)
        return self.deconv(x).flatten(1)                  # (B, grid²)


class SpatialLocationHead(nn.Module):
    """z (B, hidden) and the encoder's map (B, F, S, S) → logits over a grid×grid map.

    The map keeps *where* ink and target are; z (the core state plus the chosen ancestors'
    embeddings) is broadcast over it to say *which* place to pick, then transposed convs
    upsample S → grid (FullyConv-style spatial actions, Vinyals et al. 2017). A location read
    off the map is far easier to learn than one decoded from a flat vector."""

    reads_map = True

    def __init__(self, hidden: int, grid: int, channels: int, size: int):
        super().__init__()
        self.grid = grid
        self.film = nn.Linear(hidden, channels)
        ups = int(math.log2(grid // size))
        layers, ch = [], channels
        for _ in range(ups):
            layers += [nn.ConvTranspose2d(ch, 32, 4, stride=2, padding=1), nn.ReLU()]
            ch = 32
        layers += [nn.Conv2d(ch, 1, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    @staticmethod
    def fits(grid: int, size: int) -> bool:
        return grid >= size and grid % size == 0 and (grid // size) & (grid // size - 1) == 0

    def forward(self, z, fmap):
        x = F.relu(fmap + self.film(z)[:, :, None, None])                   # (B, F, S, S)
        return self.net(x).flatten(1)                                      # (B, grid²)


def categorical(logits, taken=None, greedy: bool = False, raw=None, scores: bool = True):
    """Sample (or score ``taken``) from a batch of categoricals: (B, n) logits → the actions
    (B,) long, their log-probabilities and the entropies (B,).

    The arithmetic of ``torch.distributions.Categorical(logits=...)`` (normalise by logsumexp,
    softmax, gather, clamped p·log p: the same log-probabilities and entropies to the bit)
    without building a distribution object and validating its arguments per slot per step.
    The draw is by inverse CDF: ``a`` is the first index whose cumulative probability exceeds
    ``u · total``, ``u ~ U[0, 1)`` from torch's generator (one ``torch.rand`` per row): exact
    for the categorical, never an index of probability 0, and cheaper than
    ``torch.multinomial`` (14% of a lean policy's 16-sample episode at batch 16, one thread).
    ``greedy`` takes the argmax of ``raw`` (the logits before a temperature; default
    ``logits``). ``scores=False`` (sampling for inference): the same actions, with ``None`` for
    the log-probabilities and entropies."""
    log_p = logits - logits.logsumexp(dim=-1, keepdim=True)
    probs = F.softmax(log_p, dim=-1)
    if taken is not None:
        a = taken
    elif greedy:
        a = (logits if raw is None else raw).argmax(-1)
    else:
        cdf = probs.cumsum(-1)
        u = torch.rand(cdf.shape[:-1] + (1,), dtype=cdf.dtype, device=cdf.device) * cdf[..., -1:]
        a = (cdf <= u).sum(-1)
    if not scores:
        return a, None, None
    logp = log_p.gather(-1, a.long().unsqueeze(-1)).squeeze(-1)
    ent = -(torch.clamp(log_p, min=torch.finfo(log_p.dtype).min) * probs).sum(-1)
    return a, logp, ent


@dataclass
class PolicyOutput:
    actions: dict            # slot → (B,) long
    log_prob: torch.Tensor   # (B,) sum over used slots (None: sampled with scores=False)
    entropy: torch.Tensor    # (B,) sum over used slots (None: likewise)
    value: torch.Tensor      # (B,) (None: likewise)
    state: tuple             # LSTM (h, c)
    logits: dict             # slot → (B, n)


class Policy(nn.Module):
    """The SPIRAL agent's network for one ActionSpec (see the module docstring)."""

    def __init__(self, spec: ActionSpec, config: PolicyConfig | None = None):
        super().__init__()
        config = config or PolicyConfig()
        self.spec, self.config = spec, config
        size = spec.settings["canvas"]
        c, hidden = config.channels, config.hidden
        in_ch = 6 if config.conditional else 3
        lean = config.arch == "lean"
        if lean:
            self.encoder = lean_encoder(in_ch, c)
        else:
            self.encoder = nn.Sequential(
                nn.Conv2d(in_ch, c, 5, stride=2, padding=2), nn.ReLU(),   # H/2
                nn.Conv2d(c, c, 4, stride=2, padding=1), nn.ReLU(),       # H/4
                nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),              # H/8
            )
        self.action_embed = nn.ModuleDict({s: nn.Embedding(n + 1, config.embed)  # +1: "none yet"
                                           for s, n in spec.sizes.items()})
        self.action_mlp = nn.Sequential(nn.Linear(config.embed, 2 * c), nn.ReLU(), nn.Linear(2 * c, 2 * c))
        block = (lambda: BottleneckBlock(2 * c, c)) if lean else (lambda: ResBlock(2 * c))
        self.res = nn.Sequential(*[block() for _ in range(config.residual_blocks)])
        feat = 2 * c * (size // 8) * (size // 8)
        self.to_core = nn.Linear(feat, hidden)
        self.core = nn.LSTMCell(hidden, hidden)
        self.value_head = nn.Linear(hidden, 1)
        self.order = spec.order
        self.ancestors = {s: sorted(nx.ancestors(spec.graph, s), key=spec.order.index) for s in spec.order}
        self.slot_embed = nn.ModuleDict({s: nn.Embedding(n, hidden) for s, n in spec.sizes.items()})
        heads = {}
        for s, n in spec.sizes.items():
            kind = spec.slots[s].kind
            grid = round(n ** 0.5)
            spatial = ShuffleLocationHead if lean else SpatialLocationHead
            if kind in ("location", "cell") and config.spatial and spatial.fits(grid, size // 8):
                heads[s] = spatial(hidden, grid, 2 * c, size // 8)
            elif kind in ("location", "cell"):
                heads[s] = LocationHead(hidden, grid)
            else:
                heads[s] = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n))
        self.heads = nn.ModuleDict(heads)
        # masks[flag][slot]: whether the statement chosen by flag uses slot
        if "flag" in spec.slots:
            table = [[float(s in spec.used_slots(f)) for s in spec.order] for f in range(spec.slots["flag"].n)]
        else:
            table = [[1.0] * len(spec.order)]
        self.register_buffer("mask_table", torch.tensor(table))
        if lean:  # oneDNN's convolutions (backward above all) run faster on NHWC: bench_policy.py
            self.to(memory_format=torch.channels_last)

    @property
    def device(self) -> torch.device:
        return self.value_head.weight.device

    def arithmetic(self):
        """The context every pass of this network runs in: torch's autocast to bfloat16 when
        ``config.precision`` says so (convolutions and linear layers in bfloat16; the LSTM
        cell and everything after the logits in float32), else nothing."""
        if self.config.precision == "bfloat16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def initial_state(self, batch: int, device=None):
        h = torch.zeros(batch, self.config.hidden, device=device or self.device)
        return (h, h.clone())

    def no_action(self, batch: int, device=None) -> dict:
        """The "previous action" at the first step: index n of each slot's embedding."""
        device = device or self.device
        return {s: torch.full((batch,), n, dtype=torch.long, device=device) for s, n in self.spec.sizes.items()}

    def target_features(self, target):
        """The target's share of the first convolution, (B, C, H', W') — constant over an
        episode, so a rollout computes it once and passes it to every step (``forward``'s
        ``target_features``); ``None`` for an unconditional policy.

        The first layer is linear in its input, so on ``cat([canvas, target])`` it is the sum of
        a convolution of the canvas by the weights' first three input channels and of the
        target by the last three: the same function (up to float rounding) at about half the
        first layer's cost per step, and no six-channel copy."""
        if not self.config.conditional:
            return None
        first = self.encoder[0]
        with self.arithmetic():
            return self._first_conv(target, first.weight[:, 3:], None)

    def _first_conv(self, image, weight, bias):
        """The first convolution's ``weight`` (some of its input channels) applied to ``image``
        mapped from [0, 1] to [-1, 1]. Without padding the map folds into the weights
        (``w·(2x - 1) = (2w)·x - Σw``), saving a pass over the image; with padding it cannot
        (a padded zero is not a padded -1)."""
        first = self.encoder[0]
        if first.padding == (0, 0):
            shift = weight.sum((1, 2, 3))
            bias = -shift if bias is None else bias - shift
            return F.conv2d(image, 2 * weight, bias, first.stride)
        return F.conv2d(image * 2 - 1, weight, bias, first.stride, first.padding)

    def encode(self, canvas, target, prev_action, state, target_features=None):
        """canvas, target: (B, 3, H, W) in [0, 1]; prev_action: slot → (B,) long;
        ``target_features``: :meth:`target_features` of ``target`` when the caller has it."""
        with self.arithmetic():
            return self._encode(canvas, target, prev_action, state, target_features)

    def _encode(self, canvas, target, prev_action, state, target_features):
        first = self.encoder[0]
        if self.config.conditional:
            if target_features is None:
                target_features = self.target_features(target)
            if self.config.blind:   # the canvas never reaches the network (its weights go unused)
                x = target_features + first.bias[None, :, None, None]
            else:
                x = self._first_conv(canvas, first.weight[:, :3], first.bias) + target_features
        else:
            x = self._first_conv(canvas, first.weight, first.bias)
        x = self.encoder[1:](x)                                                      # (B, 2C, H/8, W/8)
        a = sum(self.action_embed[s](prev_action[s]) for s in self.order)           # (B, E)
        x = x + self.action_mlp(a)[:, :, None, None]
        fmap = F.relu(self.res(x))                                                   # (B, 2C, H/8, W/8)
        h, c = self.core(F.relu(self.to_core(fmap.flatten(1))), state)               # (B, hidden)
        return h, (h, c), fmap

    def forward(self, canvas, target, prev_action, state, actions: dict | None = None,
                greedy: bool = False, temperature: float = 1.0,
                target_features=None, scores: bool = True) -> PolicyOutput:
        """One step: sample (or score the given ``actions``, teacher forcing) every slot.
        ``target_features``: :meth:`target_features` of ``target``, computed once per episode
        by the caller (else here). ``scores=False`` (inference: only the actions are wanted;
        not with ``actions``): the same actions, with ``log_prob``, ``entropy`` and ``value``
        ``None``."""
        z, state, fmap = self.encode(canvas, target, prev_action, state, target_features)
        return self.decode(z, fmap, state, actions, greedy, temperature, scores)

    def decode(self, z, fmap, state, actions: dict | None = None, greedy: bool = False,
               temperature: float = 1.0, scores: bool = True) -> PolicyOutput:
        """The second half of :meth:`forward`: every slot from the core's output ``z`` (B,
        hidden) and the encoder's map ``fmap`` (B, F, S, S) (:meth:`encode`); ``state`` is
        passed through. Rows that share a canvas, target, previous action and LSTM state share
        ``encode``'s result, so a caller sampling many continuations of a few rows (the beam
        search) encodes each once and decodes the repeated rows."""
        if not scores and actions is not None:
            raise ValueError("scores=False samples actions; teacher forcing needs scores")
        with self.arithmetic():
            return self._decode(z, fmap, state, actions, greedy, temperature, scores)

    def _decode(self, z, fmap, state, actions, greedy, temperature, scores) -> PolicyOutput:
        chosen, logits_out = {}, {}
        embedded = {}
        logps, ents = [], []
        for s in self.order:
            h = z
            for p in self.ancestors[s]:
                h = h + embedded[p]
            head = self.heads[s]
            if getattr(head, "reads_map", False):
                logits = head(F.relu(h), fmap).float()                              # (B, grid²)
            else:
                logits = head(F.relu(h)).float()                                    # (B, n)
            logits_out[s] = logits
            a, logp, ent = categorical(logits if temperature == 1.0 else logits / temperature,
                                       None if actions is None else actions[s],
                                       greedy=greedy, raw=logits, scores=scores)
            chosen[s] = a
            embedded[s] = self.slot_embed[s](a)
            logps.append(logp)
            ents.append(ent)
        if not scores:
            return PolicyOutput(chosen, None, None, None, state, logits_out)
        flag = chosen["flag"] if "flag" in chosen else torch.zeros_like(next(iter(chosen.values())))
        mask = self.mask_table[flag]                                                # (B, slots)
        log_prob = (torch.stack(logps, 1) * mask).sum(1)
        entropy = (torch.stack(ents, 1) * mask).sum(1)
        value = self.value_head(z).squeeze(1).float()
        return PolicyOutput(chosen, log_prob, entropy, value, state, logits_out)


class Discriminator(nn.Module):
    """DCGAN-style critic; conditional: it scores (target, image) pairs.

    No batch norm (WGAN-GP penalises per sample). ``spectral_norm=True`` wraps every layer in
    ``torch.nn.utils.parametrizations.spectral_norm`` (one power iteration per training
    forward): each layer's weight is divided by its top singular value, so the critic is
    (about) 1-Lipschitz without a gradient penalty, as in SPIRAL++. Its state dict then names
    ``parametrizations.weight.original`` instead of ``weight``: a critic saved with one
    setting does not load into the other."""

    def __init__(self, size: int = 64, conditional: bool = True, channels: int = 32,
                 spectral_norm: bool = False):
        super().__init__()
        self.conditional = conditional
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        c = channels
        in_ch = 6 if conditional else 3
        layers, ch = [], in_ch
        for out in (c, 2 * c, 4 * c):  # H → H/8
            layers += [wrap(nn.Conv2d(ch, out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            ch = out
        self.net = nn.Sequential(*layers)
        self.out = wrap(nn.Linear(ch * (size // 8) ** 2, 1))

    def forward(self, image, target=None):
        """image, target: (B, 3, H, W) in [0, 1] → (B,) scores (higher = more real)."""
        x = torch.cat([target, image], 1) if self.conditional else image
        return self.out(self.net(x * 2 - 1).flatten(1)).squeeze(1)
