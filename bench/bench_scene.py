"""Seconds per ``synthesize(image, domain="scene")`` (the default method, one thread) on
held-out scenes, and where the time goes: the policy network, MuJoCo renders, and the rest
(repair's image reading, Python).

    python bench/bench_scene.py [--scenes 100] [--checkpoint synth/checkpoints/scenes.pt]

Writes ``bench/results/bench_scene.json``: median / mean / 90th percentile / max seconds per
scene, mean renderer calls, and the shares. The shares come from wrapping the policy's forward
methods and the renderer's ``__call__`` with timers, in the same run; renders of the returned
program for its score and the blank-canvas check go through ``Program.render`` and count as the
rest.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from common import write_result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=100)
    ap.add_argument("--checkpoint", default=None)
    args = ap.parse_args()

    import torch

    from spiral_dsl.actions import ActionSpec
    from synth.mcmc import SceneRenderer
    from synth.scene_eval import held_out_scenes
    from synth.synthesize import load_policy, synthesize

    torch.set_num_threads(1)
    spent = {"policy": 0.0, "render": 0.0}
    depth = {"policy": 0, "render": 0}

    def timed(key, fn):
        def wrapper(*a, **k):   # outermost call only: act calls cell_map, which is wrapped too
            depth[key] += 1
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                depth[key] -= 1
                if depth[key] == 0:
                    spent[key] += time.perf_counter() - t0
        return wrapper

    policy, _ = load_policy(args.checkpoint, "scene")
    for name in ("act", "cell_map", "object_features", "attribute_logits"):
        setattr(policy, name, timed("policy", getattr(policy, name)))
    SceneRenderer.__call__ = timed("render", SceneRenderer.__call__)
    truths, targets = held_out_scenes(ActionSpec.for_domain("scene"), count=args.scenes, seed=12345)
    synthesize(targets[0], domain="scene", checkpoint=args.checkpoint)      # warm-up
    spent.update(policy=0.0, render=0.0)
    seconds, calls = [], []
    counting = SceneRenderer.__init__

    def counted_init(self, *a, **k):   # every render, by every renderer synthesize makes
        counting(self, *a, **k)
        made.append(self)
    SceneRenderer.__init__ = counted_init
    for k, target in enumerate(targets):
        made: list = []
        t0 = time.perf_counter()
        synthesize(target, domain="scene", checkpoint=args.checkpoint, seed=k)
        seconds.append(time.perf_counter() - t0)
        calls.append(sum(r.calls for r in made))
    total = sum(seconds)
    write_result("bench_scene", {
        "what": "synthesize(image, domain='scene'), default method (policy+refine), one thread",
        "checkpoint": args.checkpoint or "synth/checkpoints/scenes.pt (shipped)",
        "scenes": len(targets), "held_out_seed": 12345,
        "median_s": float(np.median(seconds)), "mean_s": float(np.mean(seconds)),
        "p90_s": float(np.percentile(seconds, 90)), "max_s": float(np.max(seconds)),
        "mean_renderer_calls_including_scoring": float(np.mean(calls)),
        "share_policy_network": spent["policy"] / total,
        "share_mujoco_renders": spent["render"] / total,
        "share_rest": 1 - (spent["policy"] + spent["render"]) / total,
        "torch_threads": torch.get_num_threads(),
    })


if __name__ == "__main__":
    main()
