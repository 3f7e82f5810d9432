"""Fuzzed images (seeded, bounded): every file or array a user can hand to ``to_target`` either
loads as a valid target or raises an ``SplError`` — never another exception — within 1 s.

Cases: valid small images in every accepted format and in odd modes (I;16, F, P with
transparency, LA, CMYK, 1); each truncated and byte-flipped; crafted headers declaring huge,
zero, negative or extreme-aspect sizes; random bytes behind real magic numbers; and arrays with
NaN, infinities, odd dtypes, shapes and sizes.
"""
import random
import struct
import time
import zlib

import numpy as np
import pytest

from spiral_dsl.errors import SplError
from synth.data import to_target

from .crafted_images import SAMPLES, bmp_header, digit, encoded, gif_header, png_header

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")

SEED = 13
SIZE = 32
SECONDS = 1.0


def _set_png_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a PNG) with its IHDR declaring ``width`` × ``height`` (CRC fixed up)."""
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    return data[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(bytes(ihdr))) + data[33:]


def _file_cases() -> list[tuple[str, bytes]]:
    rng = random.Random(SEED)
    cases = []
    for fmt, mode, options in SAMPLES:
        name = f"{fmt}-{mode}"
        data = encoded(digit(mode, light_on_dark=rng.random() < 0.5), fmt, **options)
        cases.append((name, data))
        for cut in sorted(rng.sample(range(1, len(data)), 3)):
            cases.append((f"{name}-cut{cut}", data[:cut]))
        for k in range(6):
            flipped = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            cases.append((f"{name}-flip{k}", bytes(flipped)))
    png = encoded(digit("L"), "PNG")
    for w, h in [(0, 0), (0, 7), (1, 1), (2**31 - 1, 1), (2**31 - 1, 2**31 - 1), (65535, 65535),
                 (8192, 8193), (64, 4097), (4097, 64), (3000, 3000)]:
        cases.append((f"png-header-{w}x{h}", png_header(w, h)))
        cases.append((f"png-patched-{w}x{h}", _set_png_size(png, w, h)))
    for w, h in [(0, 0), (5, -5), (-5, 5), (2**31 - 1, 2**31 - 1), (100000, 1), (3, -2**31)]:
        cases.append((f"bmp-header-{w}x{h}", bmp_header(w, h)))
    for w, h in [(0, 0), (1, 65535), (65535, 65535), (9000, 9000)]:
        cases.append((f"gif-header-{w}x{h}", gif_header(w, h)))
    for magic in (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"BM", b"GIF89a", b"RIFF\x00\x01\x00\x00WEBPVP8 ",
                  b"II*\x00", b"MM\x00*", b"%!PS-Adobe-3.0 EPSF-3.0\n", b"8BPS", b"\x00\x00\x01\x00"):
        for k in range(2):
            tail = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
            cases.append((f"magic-{magic[:4].hex()}-{k}", magic + tail))
    cases.append(("empty", b""))
    return cases


def _array_cases() -> list[tuple[str, object]]:
    nan = np.full((8, 8), np.nan, np.float32)
    return [
        ("nan", nan), ("inf", np.full((8, 8, 3), np.inf)), ("neg", np.full((8, 8), -1.0)),
        ("above-one", np.full((8, 8), 1.5)), ("float16", np.full((8, 8), 0.5, np.float16)),
        ("int64", np.zeros((8, 8), np.int64)), ("complex", np.zeros((8, 8), complex)),
        ("object", np.array([[None, 1]], object)), ("strings", np.array([["a", "b"]])),
        ("bool", np.eye(8, dtype=bool)), ("uint16", np.full((8, 8), 65535, np.uint16)),
        ("0-d", np.float32(0.5)), ("1-d", np.zeros(8)), ("5-d", np.zeros((2, 2, 2, 2, 2))),
        ("empty", np.zeros((0, 8))), ("2-channels", np.zeros((8, 8, 2))),
        ("rgba-nan-alpha", np.dstack([np.ones((8, 8, 3)), nan])),
        ("huge", np.broadcast_to(np.float32(0.5), (50000, 50000))),
        ("strip", np.zeros((1, 70000), np.uint8)), ("ragged", [[0.0, 1.0], [0.5]]),
        ("none", None), ("dict", {"a": 1}), ("bytes", b"\x89PNG"),
        ("wide-ok", np.zeros((3, 190), np.uint8)), ("tall-long", np.ones((4096, 64), np.float32)),
    ]


FILES = _file_cases()
ARRAYS = _array_cases()


def _check(load):
    t0 = time.perf_counter()
    try:
        out = load()
    except SplError as e:
        assert str(e)
    else:
        assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.float32
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    elapsed = time.perf_counter() - t0
    assert elapsed < SECONDS, f"{elapsed:.2f} s"


@pytest.mark.parametrize("name, data", FILES, ids=[c[0] for c in FILES])
def test_fuzzed_image_files(tmp_path, name, data):
    path = tmp_path / f"{name}.png"
    path.write_bytes(data)
    _check(lambda: to_target(path, SIZE, invert="auto"))


@pytest.mark.parametrize("name, array", ARRAYS, ids=[c[0] for c in ARRAYS])
def test_fuzzed_arrays(name, array):
    _check(lambda: to_target(array, SIZE, invert="auto"))


@pytest.mark.parametrize("fmt, mode, options", SAMPLES, ids=[f"{f}-{m}" for f, m, _ in SAMPLES])
def test_every_format_and_mode_loads_as_ink_on_white(tmp_path, fmt, mode, options):
    path = tmp_path / f"digit.{fmt.lower()}"
    # light on dark (inverted automatically), except palettes whose transparent background
    # already shows as white paper
    path.write_bytes(encoded(digit(mode, light_on_dark=mode != "P"), fmt, **options))
    out = to_target(path, SIZE, invert="auto")
    assert out[0, 0].min() > 0.9 and out[SIZE // 2].min() < 0.3  # paper border, an ink bar
