"""Measure :func:`synth.scene_repair.repair` on held-out scenes from three kinds of start.

``perturbed``: the truth with one random attribute of every object redrawn (a different value;
a cell among the free ones); ``dropped``: the truth with one object removed; ``empty``: the
empty scene; ``twice``: ``perturbed`` applied twice; ``random``: an unrelated random scene.

    PYTHONPATH=$PWD MUJOCO_GL=egl OMP_NUM_THREADS=1 python scripts/eval_scene_repair.py --count 100
"""
import argparse
import json
import random

from spiral_dsl.actions import ActionSpec
from synth.data import random_scenes
from synth.mcmc import SCENE_SLOTS
from synth.scene_eval import evaluate_repair, held_out_scenes


def perturb_each(spec, scene, rng):
    """Every object with one uniformly chosen slot redrawn to another value."""
    out = [dict(a) for a in scene]
    for obj in out:
        slot = rng.choice(SCENE_SLOTS)
        if slot == "cell":
            taken = {a["cell"] for a in out}
            choices = [c for c in range(spec.slots["cell"].n) if c not in taken]
        else:
            choices = [v for v in range(spec.slots[slot].n) if v != obj[slot]]
        obj[slot] = rng.choice(choices)
    return out


def drop_one(scene, rng):
    out = [dict(a) for a in scene]
    del out[rng.randrange(len(out))]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--budget", type=int, default=600)
    parser.add_argument("--starts", default="perturbed,dropped,empty")
    args = parser.parse_args()
    spec = ActionSpec.for_domain("scene", {"canvas": 64, "grid": 16, "objects": 5})
    scenes = held_out_scenes(spec, count=args.count, seed=args.seed)
    rng = random.Random(0)
    starts = {"perturbed": [perturb_each(spec, s, rng) for s in scenes[0]],
              "dropped": [drop_one(s, rng) for s in scenes[0]],
              "empty": [[] for _ in scenes[0]],
              "twice": [perturb_each(spec, perturb_each(spec, s, rng), rng) for s in scenes[0]],
              "random": random_scenes(spec, args.count, args.seed + 1)}
    for name in args.starts.split(","):
        result = evaluate_repair(spec, scenes, starts[name], budget=args.budget)
        print(json.dumps({"start": name, **{k: round(v, 4) if isinstance(v, float) else v
                                            for k, v in result.items()}}), flush=True)


if __name__ == "__main__":
    main()
