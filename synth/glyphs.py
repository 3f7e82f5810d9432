"""Printed characters as targets: glyphs of TrueType fonts, framed the way MNIST frames its
digits, so that a painter of digits can be measured on shapes that are not digits.

MNIST's digits were size-normalised to fit a 20×20 box (keeping their aspect ratio) and
centred by their centre of mass in a 28×28 frame, white on black. :func:`glyph` does the same
to a character drawn by a font (at 8× the box, then reduced by area averaging), and the frame
is then enlarged to the canvas exactly as a digit is (:func:`synth.data.load_set`), dark ink
on white.

Stroke width: the book (regular) weights, whose ink covers 13.9% of the canvas on average
against MNIST's 12.8% (the bold weights: 21%).

Sets (:data:`GLYPH_SETS`; names work wherever a set name does, e.g. ``spiral eval --set
glyphs-dejavu``, and join with ``+``, e.g. ``targets = "mnist-train+glyphs-train"``):

* ``glyphs-dejavu`` — the 52 Latin letters (A-Z, a-z) in DejaVu Sans, Serif and Sans Mono
  (156 glyphs; Debian's ``fonts-dejavu-core``). **The DejaVu family is reserved for
  evaluation: no training set may use it** (issue 15).
* ``glyphs-dejavu-scripts`` — the Greek and Cyrillic letters (:data:`SCRIPTS`) in the same
  three DejaVu fonts: evaluation on scripts, still in a family no training set uses.
* ``glyphs-train`` — Latin, Greek and Cyrillic letters in 16 fonts of 3 other Debian
  packages (Liberation, GNU FreeFont, URW base 35: sans, serif, mono, geometric and book
  faces, upright and italic), for training. A font that lacks a character (it would draw its
  ``.notdef`` box) is skipped for that character, so the set's size depends on the fonts, not on
  a list kept by hand.

Labels are the characters' code points.
"""
from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import DataError
from .pixels import check_size, resize

__all__ = ["GLYPH_SETS", "GlyphSet", "FONT_DIRS", "CHARACTERS", "SCRIPTS", "RESERVED_FAMILY",
           "glyph", "has_glyph", "load_glyphs", "find_font"]

CHARACTERS = string.ascii_uppercase + string.ascii_lowercase
"""The 52 Latin letters."""
SCRIPTS = ("".join(chr(c) for c in range(0x391, 0x3AA) if c != 0x3A2)      # Greek capitals
           + "".join(chr(c) for c in range(0x3B1, 0x3CA) if c != 0x3C2)    # small (no final ς)
           + "".join(chr(c) for c in range(0x410, 0x450)))                 # Cyrillic А-я
"""Greek (48) and Russian Cyrillic (64) letters: shapes of other scripts."""
FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype"))
RESERVED_FAMILY = "DejaVu"
"""The family kept for evaluation: no training set may use it."""


class GlyphSet(NamedTuple):
    """A set of printed characters: ``(font file, Debian package)`` pairs × ``characters``."""
    fonts: tuple[tuple[str, str], ...]
    characters: str
    training: bool


_DEJAVU = tuple((f, "fonts-dejavu-core") for f in ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf"))
GLYPH_SETS = {
    "glyphs-dejavu": GlyphSet(_DEJAVU, CHARACTERS, training=False),
    "glyphs-dejavu-scripts": GlyphSet(_DEJAVU, SCRIPTS, training=False),
    "glyphs-train": GlyphSet(
        tuple((f, "fonts-liberation") for f in (
            "LiberationSans-Regular.ttf", "LiberationSerif-Regular.ttf", "LiberationMono-Regular.ttf"))
        + tuple((f, "fonts-freefont-ttf") for f in (
            "FreeSans.ttf", "FreeSerif.ttf", "FreeMono.ttf", "FreeSansOblique.ttf", "FreeSerifItalic.ttf"))
        + tuple((f, "fonts-urw-base35") for f in (
            "NimbusSans-Regular.otf", "NimbusRoman-Regular.otf", "NimbusMonoPS-Regular.otf",
            "C059-Roman.otf", "P052-Roman.otf", "URWBookman-Light.otf", "URWGothic-Book.otf",
            "NimbusRoman-Italic.otf")),
        CHARACTERS + SCRIPTS, training=True),
}
"""The named glyph sets (see the module's docstring)."""
BOX, FRAME, OVERSAMPLE = 20, 28, 8


def find_font(file_name: str, package: str) -> Path:
    """The installed font file ``file_name`` (searched under :data:`FONT_DIRS`), or a
    :class:`DataError` naming the Debian package that ships it."""
    for root in FONT_DIRS:
        if root.is_dir():
            found = sorted(root.rglob(file_name))
            if found:
                return found[0]
    raise DataError(f"font {file_name} is not installed (Debian package {package}: "
                    f"apt-get install {package})")


@lru_cache(maxsize=64)
def _font(font_file: str, size: int):
    from PIL import ImageFont
    return ImageFont.truetype(font_file, size=size)


@lru_cache(maxsize=64)
def _notdef(font_file: str) -> tuple[tuple[int, int], bytes]:
    """The size and pixels of the glyph ``font_file`` draws for a character it lacks: what a
    noncharacter (U+FFFF) gets. Once per font, not once per character."""
    missing = _font(font_file, BOX * OVERSAMPLE).getmask("\uffff")
    return missing.size, bytes(missing)


def has_glyph(font_file, character: str) -> bool:
    """Whether ``font_file`` draws ``character`` with a glyph of its own: a missing character is
    drawn as the font's ``.notdef`` glyph."""
    mask = _font(str(font_file), BOX * OVERSAMPLE).getmask(character)
    return mask.getbbox() is not None and (mask.size, bytes(mask)) != _notdef(str(font_file))


def glyph(font_file, character: str) -> np.ndarray:
    """``character`` drawn by ``font_file``, MNIST-framed: (28, 28) float32, white on black."""
    from PIL import Image, ImageDraw
    if not isinstance(character, str) or len(character) != 1 or not character.isprintable() or character.isspace():
        raise DataError(f"character={character!r} must be one printable, non-blank character")
    big = BOX * OVERSAMPLE
    font = _font(str(font_file), big)
    canvas = Image.new("L", (3 * big, 3 * big), 0)
    ImageDraw.Draw(canvas).text((big, big), character, fill=255, font=font)
    ink = np.asarray(canvas, dtype=np.float32) / 255
    rows, cols = np.nonzero(ink > 0)
    if rows.size == 0:
        raise DataError(f"font {font_file} draws nothing for {character!r}")
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = ink.shape
    scale = BOX / max(h, w)                        # the longer side to 20 pixels
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    side = max(h, w)                               # pad to a square, reduce, crop back
    square = np.zeros((side, side), np.float32)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = ink
    small = resize(square[None], BOX)[0]
    top, left = (BOX - new_h) // 2, (BOX - new_w) // 2
    small = small[top:top + new_h, left:left + new_w]
    frame = np.zeros((FRAME, FRAME), np.float32)
    mass = small.sum()
    cy = (small.sum(1) * np.arange(new_h)).sum() / mass
    cx = (small.sum(0) * np.arange(new_w)).sum() / mass
    y0 = int(np.clip(round(FRAME / 2 - 0.5 - cy), 0, FRAME - new_h))
    x0 = int(np.clip(round(FRAME / 2 - 0.5 - cx), 0, FRAME - new_w))
    frame[y0:y0 + new_h, x0:x0 + new_w] = small
    return np.clip(frame, 0, 1)


@lru_cache(maxsize=4)
def _frames(name: str) -> tuple[np.ndarray, np.ndarray]:
    chosen = GLYPH_SETS[name]
    frames, labels = [], []
    for file_name, package in chosen.fonts:
        path = find_font(file_name, package)
        for character in chosen.characters:
            if not has_glyph(path, character):
                if chosen.training:
                    continue
                # an evaluation set is fixed: it may not shrink with the installed fonts
                raise DataError(f"font {path} has no glyph for {character!r} (U+{ord(character):04X}), "
                                f"which the evaluation set {name!r} needs")
            frames.append(glyph(path, character))
            labels.append(ord(character))
    return np.stack(frames), np.array(labels, dtype=np.int64)


def load_glyphs(name: str, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The glyph set ``name`` (one of :data:`GLYPH_SETS`) as targets ``(N, size, size, 3)``
    (dark ink on white) and labels (code points)."""
    if name not in GLYPH_SETS:
        raise DataError(f"unknown glyph set {name!r}: not one of {list(GLYPH_SETS)}")
    size = check_size(size)
    frames, labels = _frames(name)
    gray = resize(1.0 - frames, size)
    return np.repeat(gray[..., None], 3, axis=-1).astype(np.float32), labels.copy()
