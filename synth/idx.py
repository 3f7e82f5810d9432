"""The IDX format of the original MNIST files: a numpy reader and an atomic writer."""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from spiral_dsl.errors import SplLimitError, SplRangeError

from .errors import DataError

__all__ = ["read_idx", "write_idx"]

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """The array in an IDX file (``.gz`` or not): magic ``00 00 type ndim``, big-endian dims.

    The header's declared size is checked against ``synth.limits.LIMITS.idx_bytes`` before
    the data is read (a small ``.gz`` can inflate to any size)."""
    from .limits import LIMITS
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_TYPES or head[3] == 0:
                raise DataError(f"{path} is not an IDX file (magic {head[:4].hex() or 'empty'}; "
                                f"expected 00 00, a type in {[hex(t) for t in _IDX_TYPES]}, "
                                "ndim >= 1)")
            ndim, dtype = head[3], np.dtype(_IDX_TYPES[head[2]])
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise DataError(f"{path}: truncated IDX header")
            shape = tuple(int.from_bytes(dims[4 * k: 4 * k + 4], "big") for k in range(ndim))
            expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if expected > LIMITS.idx_bytes:
                raise SplLimitError(f"IDX file {path} declares shape {shape} ({expected:,} bytes), "
                                    f"more than the limit of {LIMITS.idx_bytes:,} bytes "
                                    "(synth.limits.LIMITS.idx_bytes)")
            raw = f.read(expected + 1)  # one more byte: trailing data is an error too
    except FileNotFoundError:
        raise DataError(f"IDX file {path} does not exist") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) != expected:
        raise DataError(f"{path}: header says shape {shape} ({expected} bytes of data) but the "
                        f"file has {len(raw) if len(raw) <= expected else 'more'}")
    return np.frombuffer(raw, dtype).reshape(shape).astype(dtype.newbyteorder("="))


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
