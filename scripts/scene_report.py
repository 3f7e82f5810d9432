"""Figures of the scene policy for docs/results.md: per-slot accuracies and confusion matrices
(teacher-forced, on held-out scenes), and a grid image of held-out targets vs reconstructions
by the default method.

    python scripts/scene_report.py [--checkpoint synth/checkpoints/scenes.pt] [--scenes 1000]
        [--json out/scene_report.json] [--grid docs/img/scenes_grid.png]

Teacher-forced figures use :func:`synth.scene_data.scene_examples` on scenes drawn with seed
12345 (held out: training draws seeds below 10,000): each example is a target, a canvas with a
random subset of its objects placed, and the objects still to place. *cell*: the argmax of
the cell/stop logits is a remaining object's cell (or stop when none remains); the attribute
slots are read at each remaining object's true cell, given the true earlier slots (*exact*:
all five right). Confusion matrices count (true, predicted) under the same teacher forcing.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spiral_dsl.ast import SHAPES  # noqa: E402
from spiral_dsl.io import save_image, write_atomic  # noqa: E402
from synth.scene_data import scene_examples  # noqa: E402
from synth.scene_net import ATTRIBUTES  # noqa: E402
from synth.synthesize import default_checkpoint, load_policy, synthesize  # noqa: E402

HELD_OUT_SEED = 12345


@torch.no_grad()
def teacher_forced(policy, scenes: int) -> dict:
    """Per-slot accuracies and confusion matrices over ``scenes`` held-out scenes."""
    data = scene_examples(policy.spec, scenes, HELD_OUT_SEED)
    sizes = policy.spec.sizes
    confusion = {s: np.zeros((sizes[s], sizes[s]), np.int64) for s in ATTRIBUTES}
    cell_right = stop_right = stop_total = 0
    for lo in range(0, len(data), 500):
        index = np.arange(lo, min(lo + 500, len(data)))
        target, canvas, remaining = data.batch(index)
        x = policy.inputs(target, canvas)
        fmap, logits = policy.cell_map(x)
        choice = logits.argmax(1)
        g2 = logits.shape[1] - 1
        for b in range(len(index)):
            rows = remaining[b][remaining[b, :, 0] >= 0]
            if len(rows) == 0:
                stop_total += 1
                stop_right += int(choice[b] == g2)
                cell_right += int(choice[b] == g2)
            else:
                cell_right += int(choice[b].item() in set(rows[:, 1].tolist()))
        valid = remaining[:, :, 0] >= 0
        objs = remaining[valid]
        which = torch.arange(len(index))[:, None].expand_as(valid)[valid]
        h = policy.object_features(x[which], fmap[which], objs[:, 1])
        taken = {s: objs[:, i] for i, s in ((0, "shape"), (2, "size"), (3, "red"), (4, "green"),
                                              (5, "blue"))}
        _, att = policy.attribute_logits(h, taken)
        for s in ATTRIBUTES:
            np.add.at(confusion[s], (taken[s].numpy(), att[s].argmax(1).numpy()), 1)
    objects = int(confusion["shape"].sum())
    accuracy = {s: float(np.trace(confusion[s]) / objects) for s in ATTRIBUTES}
    accuracy["cell"] = cell_right / len(data)
    accuracy["stop"] = stop_right / max(stop_total, 1)
    return {"examples": len(data), "objects": objects, "accuracy": accuracy,
            "confusion": {s: confusion[s].tolist() for s in ATTRIBUTES},
            "shape_names": list(SHAPES)}


def grid_image(checkpoint, count: int, path: Path) -> dict:
    """Targets | reconstructions (default method) of ``count`` held-out scenes, 4 per row."""
    from spiral_dsl.actions import ActionSpec
    from synth.scene_eval import held_out_scenes, object_recovery
    spec = ActionSpec.for_domain("scene")
    truths, targets = held_out_scenes(spec, count=count, seed=HELD_OUT_SEED + 1)
    tiles, exact, objects = [], 0, 0
    for n, (truth, target) in enumerate(zip(truths, targets)):
        program = synthesize(target, domain="scene", checkpoint=checkpoint, seed=n)
        counts = object_recovery(truth, spec.encode_program(program))
        exact, objects = exact + counts["exact"], objects + counts["objects"]
        pad = np.ones((target.shape[0], 2, 3), np.float32)
        tiles.append(np.concatenate([target, pad, program.render(), pad, pad, pad], 1))
    rows = [np.concatenate(tiles[i:i + 4], 1) for i in range(0, len(tiles), 4)]
    save_image(np.concatenate(rows, 0), path)
    return {"grid_scenes": count, "grid_exact": exact, "grid_objects": objects}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(default_checkpoint("scene")))
    p.add_argument("--scenes", type=int, default=1000)
    p.add_argument("--grid", default="docs/img/scenes_grid.png")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    policy, info = load_policy(args.checkpoint, "scene")
    t0 = time.perf_counter()
    report = {"checkpoint": args.checkpoint, "info": info, **teacher_forced(policy, args.scenes)}
    report.update(grid_image(args.checkpoint, 16, Path(args.grid)))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        write_atomic(args.json, (text + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
