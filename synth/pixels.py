"""Pixel operations on image batches (numpy): resizing, fitting into a square, reading
unit floats. Resizing is separable and linear: bilinear (half-pixel centres) when enlarging,
area averaging when shrinking; images are ink on white, so padding is white.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from spiral_dsl.errors import SplRangeError

from .limits import LIMITS

__all__ = ["MAX_SIZE", "check_size", "resize", "fit_square", "border_is_dark", "as_unit_float"]

MAX_SIZE = 4096  # the largest canvas the language allows (settings.INT_RANGES)


def check_size(size) -> int:
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
    size = check_size(size)
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
    size = check_size(size)
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


def border_is_dark(x: np.ndarray) -> bool:
    ring = np.concatenate([x[0].ravel(), x[-1].ravel(), x[:, 0].ravel(), x[:, -1].ravel()])
    return float(np.median(ring)) < 0.5


def as_unit_float(arr: np.ndarray, what: str) -> np.ndarray:
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
