"""synth.glyphs: printed characters framed as MNIST frames its digits."""
import numpy as np
import pytest

from synth.data import DataError, load_set
from synth.glyphs import (
    CHARACTERS,
    GLYPH_SETS,
    RESERVED_FAMILY,
    SCRIPTS,
    GlyphSet,
    find_font,
    glyph,
    has_glyph,
    load_glyphs,
)


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
    path = find_font(*GLYPH_SETS["glyphs-dejavu"].fonts[0])
    for character in "AgM|":
        frame = glyph(path, character)
        rows, cols = np.nonzero(frame > 0.05)
        assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21)   # the longer side fits 20 pixels
        mass = frame.sum()
        cy = (frame.sum(1) * np.arange(28)).sum() / mass
        cx = (frame.sum(0) * np.arange(28)).sum() / mass
        assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1


def test_bad_input_is_a_clear_error(tmp_path, monkeypatch):
    path = find_font(*GLYPH_SETS["glyphs-dejavu"].fonts[0])
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


def test_the_training_set_spans_three_scripts_in_other_families_than_dejavu():
    chosen = GLYPH_SETS["glyphs-train"]
    assert chosen.training and not GLYPH_SETS["glyphs-dejavu"].training
    assert not any(RESERVED_FAMILY.lower() in name.lower() for name, _ in chosen.fonts)
    assert len({package for _, package in chosen.fonts}) >= 3 and len(chosen.fonts) >= 12
    targets, labels = load_set("glyphs-train", size=32)
    assert len(targets) == len(labels) > 1000 and targets.shape[1:] == (32, 32, 3)
    scripts = {("latin" if c < 0x370 else "greek" if c < 0x400 else "cyrillic") for c in labels}
    assert scripts == {"latin", "greek", "cyrillic"}
    assert set(map(chr, labels)) <= set(CHARACTERS + SCRIPTS)
    digits, _ = load_set("mnist-eval", size=32)
    assert abs((1 - targets).mean() - (1 - digits).mean()) < 0.2 * (1 - digits).mean()


def test_a_missing_glyph_is_skipped_in_training_and_an_error_in_evaluation(monkeypatch):
    path = find_font("LiberationSans-Regular.ttf", "fonts-liberation")
    assert has_glyph(path, "A") and has_glyph(path, "Ж") and not has_glyph(path, "中")
    fonts = (("LiberationSans-Regular.ttf", "fonts-liberation"),)
    monkeypatch.setitem(GLYPH_SETS, "glyphs-t", GlyphSet(fonts, "A中b", training=True))
    monkeypatch.setitem(GLYPH_SETS, "glyphs-e", GlyphSet(fonts, "A中b", training=False))
    _, labels = load_glyphs("glyphs-t", 16)
    assert list(map(chr, labels)) == ["A", "b"]
    with pytest.raises(DataError, match="has no glyph for '中'.*evaluation set 'glyphs-e'"):
        load_glyphs("glyphs-e", 16)


def test_named_sets_join_with_a_plus_in_order():
    joined, labels = load_set("mnist-eval+glyphs-dejavu", size=16)
    digits, digit_labels = load_set("mnist-eval", size=16)
    letters, letter_labels = load_set("glyphs-dejavu", size=16)
    np.testing.assert_array_equal(joined, np.concatenate([digits, letters]))
    np.testing.assert_array_equal(labels, np.concatenate([digit_labels, letter_labels]))
    with pytest.raises(DataError, match="'nope' in the joined set 'mnist-eval\\+nope' is not a named set"):
        load_set("mnist-eval+nope")
    with pytest.raises(DataError, match="names a set twice"):
        load_set("glyphs-dejavu+glyphs-dejavu")
