"""The IDX format of the original MNIST files: a numpy reader and an atomic writer."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from spiral_dsl.errors import SplRangeError

from .errors import DataError

__all__ = ["read_idx", "write_idx"]

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """The array in an IDX file (``.gz`` or not): magic ``00 00 type ndim``, big-endian dims."""
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"IDX file {path} does not exist") from None
    except OSError as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise DataError(f"{path} is not an IDX file (magic {raw[:4].hex() or 'empty'}; expected "
                        f"00 00, a type in {[hex(t) for t in _IDX_TYPES]}, ndim >= 1)")
    ndim, dtype = raw[3], np.dtype(_IDX_TYPES[raw[2]])
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise DataError(f"{path}: header says shape {shape} ({expected} bytes of data) but the "
                        f"file has {len(raw) - offset}")
    return np.frombuffer(raw, dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``), atomically."""
    from spiral_dsl.io import write_atomic

    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or not 1 <= array.ndim <= 255:
        raise SplRangeError(f"cannot write a {array.dtype} array of shape {array.shape} as IDX; "
                            f"dtypes: {sorted(str(d) for d in codes)}, 1..255 dimensions")
    data = (bytes([0, 0, code, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
            + array.astype(np.dtype(_IDX_TYPES[code])).tobytes())
    write_atomic(path, gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data)
