"""synth.glyphs: printed characters framed as MNIST frames its digits."""
import numpy as np
import pytest

from synth.data import DataError, load_set
from synth.glyphs import CHARACTERS, GLYPH_SETS, find_font, glyph, load_glyphs


def test_the_dejavu_set_is_every_letter_in_three_families_as_targets():
    targets, labels = load_set("glyphs-dejavu", size=64)
    assert targets.shape == (3 * len(CHARACTERS), 64, 64, 3) and targets.dtype == np.float32
    assert 0 <= targets.min() and targets.max() <= 1
    assert [chr(c) for c in labels[:len(CHARACTERS)]] == list(CHARACTERS)
    border = np.concatenate([targets[:, :2].reshape(-1), targets[:, -2:].reshape(-1),
                             targets[:, :, :2].reshape(-1), targets[:, :, -2:].reshape(-1)])
    assert border.mean() > 0.999          # white paper round the glyph (a few touch it, as digits do)
    again, _ = load_glyphs("glyphs-dejavu", 32)
    assert again.shape == (156, 32, 32, 3)


def test_ink_is_about_mnists_and_each_glyph_fills_the_box_centred_by_mass():
    targets, _ = load_set("glyphs-dejavu", size=64)
    digits, _ = load_set("mnist-eval", size=64)
    ink, mnist_ink = (1 - targets).mean(), (1 - digits).mean()
    assert abs(ink - mnist_ink) < 0.2 * mnist_ink       # the book weight: 0.139 vs 0.128
    path = find_font(GLYPH_SETS["glyphs-dejavu"][0][0], "fonts-dejavu-core")
    for character in "AgM|":
        frame = glyph(path, character)
        rows, cols = np.nonzero(frame > 0.05)
        assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21)   # the longer side fits 20 pixels
        mass = frame.sum()
        cy = (frame.sum(1) * np.arange(28)).sum() / mass
        cx = (frame.sum(0) * np.arange(28)).sum() / mass
        assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1


def test_bad_input_is_a_clear_error(tmp_path, monkeypatch):
    path = find_font(GLYPH_SETS["glyphs-dejavu"][0][0], "fonts-dejavu-core")
    for bad in ("", "ab", " ", 7):
        with pytest.raises(DataError, match="must be one printable, non-blank character"):
            glyph(path, bad)
    with pytest.raises(DataError, match="unknown glyph set 'glyphs-x'"):
        load_glyphs("glyphs-x")
    with pytest.raises(DataError, match="unknown target set 'glyphs-x'"):
        load_set("glyphs-x")
    monkeypatch.setattr("synth.glyphs.FONT_DIRS", (tmp_path,))
    with pytest.raises(DataError, match="apt-get install fonts-dejavu-core"):
        find_font("DejaVuSans.ttf", "fonts-dejavu-core")
