"""Write the weights-only model file that ships, from a training checkpoint or model file.

    python scripts/ship_checkpoint.py runs/mnist/checkpoint.pt synth/checkpoints/mnist.pt \
        command="spiral train --config configs/mnist.toml" ...

Extra ``key=value`` pairs are recorded in the model's info (``synth.checkpoint.load_model``
returns them), with the run's own info (update, seconds).
"""
from __future__ import annotations

import sys

from synth import checkpoint as ckpt


def main(argv: list[str]) -> int:
    src, dst, *pairs = argv
    policy, info = ckpt.load_model(src)
    record = ckpt.load(src)
    if "update" in record:   # a training checkpoint: take the count and time from it
        info.update(update=record["update"], rl_seconds=round(float(record["elapsed"]), 1))
    info.update(dict(p.split("=", 1) for p in pairs))
    ckpt.save_model(policy, dst, **info)
    print(f"{dst}: {info}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
