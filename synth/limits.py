"""The learning layer's resource limits, as data: images in, checkpoints in.

Each limit is checked *before* the allocation it bounds (an image's size is read from its
header before any pixel is decoded; a checkpoint's configuration is checked, and its model's
parameter count computed without allocating, before the model is built), and each error names
the limit and the offending value. The language's own limits (statements, evaluation work,
render size) live in :mod:`spiral_dsl`; docs/language.md ("Limits") lists both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["SynthLimits", "LIMITS", "Rule", "CHECKPOINT_CONFIG", "CHECKPOINT_SETTINGS",
           "IMAGE_FORMATS"]


@dataclass(frozen=True)
class SynthLimits:
    image_pixels: int = 8192 * 8192
    """Most pixels (width × height, from the file's header) an image may declare. 8192² covers
    any photograph; decoding one peaks at a few hundred MB (it is reduced before conversion)."""
    image_aspect: float = 64.0
    """Longest side / shortest side at most this: a 1×15000 strip is not a picture of anything
    a 64-pixel canvas can show."""
    image_work_side: int = 2048
    """Images longer than this are box-reduced by an integer factor right after decoding, before
    any float conversion, and arrays before resizing (targets are usually 64², at most 4096²)."""
    idx_bytes: int = 1 << 30
    """Most data bytes an IDX file's header may declare (the MNIST training images are 47 MB);
    checked before reading, since a small ``.gz`` can inflate to any size."""
    model_parameters: int = 64_000_000
    """Most parameters a checkpoint's policy may have (256 MB of float32; the shipped MNIST
    policy has 2.9 M). Counted on PyTorch's meta device, which allocates nothing."""


LIMITS = SynthLimits()

#: Image formats the loaders decode (Pillow's names). Others (EPS, which runs Ghostscript; PSD,
#: ICO, ...) are refused before decoding: an image target never needs them.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")


_INT64 = 2**63 - 1


@dataclass(frozen=True)
class Rule:
    """What a value must be: a ``bool``, an ``int`` or a finite ``float`` in ``[low, high]``
    (``None``: unbounded on that side), one of ``choices``, a ``str`` (non-empty when ``low``
    is set), or any value of ``kind``."""
    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple = ()

    def describe(self) -> str:
        """The valid values in words, e.g. ``an integer in 1..256`` or ``one of ['a', 'b']``."""
        if self.kind is bool:
            return "true or false"
        if self.choices:
            return f"one of {list(self.choices)}"
        if self.kind in (int, float):
            noun = "an integer" if self.kind is int else "a number"
            return f"{noun}{self._range()}"
        if self.kind is str:
            return "a non-empty string" if self.low else "a string"
        return f"a {self.kind.__name__}"

    def _range(self) -> str:
        if self.low is not None and self.high is not None:
            return f" in {self.low}..{self.high}"
        if self.low is not None:
            return f" >= {self.low}"
        if self.high is not None:
            return f" <= {self.high}"
        return ""

    def problem(self, value) -> str | None:
        """``None`` when ``value`` satisfies the rule, else what is wrong (for a message)."""
        if self.kind is bool:
            return None if isinstance(value, bool) else "must be true or false"
        if self.choices:
            return None if value in self.choices else f"must be one of {list(self.choices)}"
        if self.kind in (int, float):
            number = (int, float) if self.kind is float else int
            if isinstance(value, bool) or not isinstance(value, number):
                return f"must be {self.describe()}"
            if isinstance(value, int) and abs(value) > _INT64:   # TOML's integers are 64-bit;
                return "is too large (integers are 64-bit)"      # and float(value) would overflow
            if not math.isfinite(value) or (self.low is not None and value < self.low) \
                    or (self.high is not None and value > self.high):
                return f"is out of range; valid: {self._range().strip().removeprefix('in ')}"
            return None
        if not isinstance(value, self.kind) or (self.kind is str and self.low and not value):
            return f"must be {self.describe()}"
        return None


#: Every :class:`synth.config.PolicyConfig` field a checkpoint may declare, and its valid values.
#: A new config field is one line here (tests/synth/test_checkpoint.py checks that every field
#: has a rule). Missing fields take the dataclass default (older checkpoints).
CHECKPOINT_CONFIG = MappingProxyType({
    "channels": Rule(int, 1, 256),
    "hidden": Rule(int, 1, 4096),
    "residual_blocks": Rule(int, 0, 16),
    "embed": Rule(int, 1, 1024),
    "conditional": Rule(bool),
    "spatial": Rule(bool),
    "blind": Rule(bool),
    "arch": Rule(str, choices=("spiral", "lean", "scene")),
    "precision": Rule(str, choices=("float32", "bfloat16")),
})

#: Header settings a checkpoint's action space may use (tighter than the language's: the
#: policy's heads and embeddings grow with grid² and its encoder with canvas²).
CHECKPOINT_SETTINGS = MappingProxyType({
    "canvas": Rule(int, 8, 512),
    "grid": Rule(int, 1, 256),
    "objects": Rule(int, 1, 64),
    "brush": Rule(str),
})
