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
glyphs-dejavu``):

* ``glyphs-dejavu`` — the 52 Latin letters (A-Z, a-z) in DejaVu Sans, Serif and Sans Mono
  (156 glyphs; Debian's ``fonts-dejavu-core``). **The DejaVu family is reserved for
  evaluation: no training set may use it** (issue 15).

Labels are the characters' code points.
"""
from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import DataError
from .pixels import check_size, resize

__all__ = ["GLYPH_SETS", "FONT_DIRS", "CHARACTERS", "glyph", "load_glyphs", "find_font"]

CHARACTERS = string.ascii_uppercase + string.ascii_lowercase
FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype"))
GLYPH_SETS = {
    "glyphs-dejavu": (("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf"),
                      "fonts-dejavu-core"),
}
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


def glyph(font_file, character: str) -> np.ndarray:
    """``character`` drawn by ``font_file``, MNIST-framed: (28, 28) float32, white on black."""
    from PIL import Image, ImageDraw, ImageFont
    if not isinstance(character, str) or len(character) != 1 or not character.isprintable() or character.isspace():
        raise DataError(f"character={character!r} must be one printable, non-blank character")
    big = BOX * OVERSAMPLE
    font = ImageFont.truetype(str(font_file), size=big)
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
    files, package = GLYPH_SETS[name]
    frames, labels = [], []
    for file_name in files:
        path = find_font(file_name, package)
        for character in CHARACTERS:
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
