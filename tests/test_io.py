"""spiral_dsl.io: atomic, durable writes; image and animation formats from the extension."""
import io
import os

import numpy as np
import pytest
from PIL import Image

from spiral_dsl import SplError
from spiral_dsl.io import (
    SplOutputError,
    animation_format,
    encode_image,
    image_format,
    save_animation,
    save_image,
    to_uint8,
    write_atomic,
)

GRADIENT = np.linspace(0, 1, 8 * 8 * 3, dtype=np.float32).reshape(8, 8, 3)


# ---------------------------------------------------------------------------- write_atomic
def test_write_atomic_creates_missing_parent_folders(tmp_path):
    path = tmp_path / "a" / "b" / "out.txt"
    write_atomic(path, "hello")
    assert path.read_text() == "hello"
    write_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.txt"]


def test_write_atomic_fsyncs_the_file_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    write_atomic(tmp_path / "x.bin", b"data")
    assert events[:2] == ["fsync", "replace"]        # data on disk before it gets the name
    assert events[2:] == ["fsync"]                   # then the folder, so the rename lasts


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "keep.txt"
    path.write_text("old")

    def full_disk(a, b):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(SplOutputError, match="cannot write .*keep.txt: No space left on device"):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_write_atomic_keeps_the_mode_of_a_replaced_file(tmp_path):
    path = tmp_path / "private.txt"
    path.write_text("x")
    os.chmod(path, 0o600)
    write_atomic(path, "y")
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("make", ["folder", "file-as-parent"])
def test_unwritable_paths_are_spl_errors(tmp_path, make):
    if make == "folder":
        target = tmp_path / "dir"
        target.mkdir()
    else:
        (tmp_path / "file").write_text("")
        target = tmp_path / "file" / "x.txt"
    with pytest.raises(SplOutputError, match=f"cannot write {target}"):
        write_atomic(target, "x")
    assert issubclass(SplOutputError, SplError)


# ---------------------------------------------------------------------------- images
def test_to_uint8_rounds_half_up_and_clips():
    out = to_uint8(np.array([-1.0, 0.0, 0.5 / 255, 1.5 / 255, 1.0, 2.0], np.float32))
    assert out.dtype == np.uint8 and out.tolist() == [0, 0, 1, 2, 255, 255]
    same = np.zeros((2, 2, 3), np.uint8)
    assert to_uint8(same) is same


@pytest.mark.parametrize("name,fmt,magic", [
    ("x.png", "PNG", b"\x89PNG"), ("x.PNG", "PNG", b"\x89PNG"), ("x.jpg", "JPEG", b"\xff\xd8\xff"),
    ("x.jpeg", "JPEG", b"\xff\xd8\xff"), ("x.bmp", "BMP", b"BM"), ("x.gif", "GIF", b"GIF8"),
    ("x.webp", "WEBP", b"RIFF"),
])
def test_save_image_writes_the_format_of_the_extension(tmp_path, name, fmt, magic):
    assert image_format(name) == fmt
    save_image(GRADIENT, tmp_path / name)
    data = (tmp_path / name).read_bytes()
    assert data.startswith(magic)
    with Image.open(tmp_path / name) as im:
        assert im.format == fmt and im.size == (8, 8)


def test_lossless_formats_hold_the_quantised_pixels(tmp_path):
    save_image(GRADIENT, tmp_path / "x.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x.png")), to_uint8(GRADIENT))
    assert encode_image(GRADIENT) == (tmp_path / "x.png").read_bytes()


@pytest.mark.parametrize("name,reason", [
    ("x", "it has no extension"), ("x.xyz", "'.xyz' is not an image extension"),
    ("x.svg", "SVG comes from"), ("x.spl", "'.spl' is not an image extension"),
])
def test_unknown_extensions_are_refused_before_any_write(tmp_path, name, reason):
    with pytest.raises(SplOutputError) as e:
        save_image(GRADIENT, tmp_path / name)
    assert reason in str(e.value) and ".png" in str(e.value) and ".jpg" in str(e.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,fmt", [("x.gif", "GIF"), ("x.png", "PNG"), ("x.webp", "WEBP")])
def test_animations_in_the_format_of_the_extension(tmp_path, name, fmt):
    frames = [GRADIENT * k / 3 for k in range(4)]
    assert animation_format(name) == fmt
    save_animation(frames, tmp_path / name, frame_ms=50)
    with Image.open(tmp_path / name) as im:
        assert im.format == fmt and im.n_frames == 4


def test_formats_without_animation_are_refused(tmp_path):
    with pytest.raises(SplOutputError, match="cannot write an animation .* JPEG.*valid extensions:.*\\.gif"):
        save_animation([GRADIENT, GRADIENT], tmp_path / "x.jpg")
    with pytest.raises(SplOutputError, match="at least one frame"):
        save_animation([], tmp_path / "x.gif")
    assert list(tmp_path.iterdir()) == []


def test_checkpoints_are_written_through_the_io_module(tmp_path, monkeypatch):
    """synth.checkpoint.save_atomic creates parents and fsyncs, like every other output."""
    torch = pytest.importorskip("torch")
    from synth import checkpoint as ckpt
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
    path = tmp_path / "run" / "nested" / "checkpoint.pt"
    ckpt.save_atomic({"w": torch.ones(2)}, path)
    assert calls and torch.equal(ckpt.load(path)["w"], torch.ones(2))
    assert torch.load(io.BytesIO(path.read_bytes()), weights_only=True)["w"].tolist() == [1, 1]
