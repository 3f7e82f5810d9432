"""MuJoCo scene speed: random 5-object scenes rendered by the ``mujoco`` backend (model compiled
once, slots edited in place, renderer reused) beside a recompile-per-scene path (a new MJCF
model and renderer for every scene), in one run, at 64² and 128². Target: >= 500 frames/s at 64².

Every path first runs for ``--warmup`` seconds (llvmpipe JIT-compiles shader variants during
the first frames: the first second of a process renders far slower). Rounds of the paths then
alternate and the medians are reported, so that load from other processes hits all alike. Also reported: frames/s of environment steps (one object and one
image per step, as the Gymnasium env runs), the cost of shadows + 4× MSAA, and the parts of a
recompile. Writes bench/results/bench_mujoco.json.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time

from common import rate, write_result

from spiral_dsl.actions import ActionSpec
from spiral_dsl.generate import random_program
from spiral_dsl.interpreters import mujoco as M
from spiral_dsl.interpreters import mujoco_scene as S
from spiral_dsl.settings import DEFAULTS


def scene_path(interp, settings, scenes, size, image_every_step: bool = False):
    """One frame per scene (five objects, then the image), or, with ``image_every_step``,
    one frame per object (execute, then read the image, as an env step does)."""
    def run():
        for scene in scenes:
            canvas = interp.start("scene", settings, size)
            for s in scene:
                canvas.execute(s)
                if image_every_step:
                    canvas.image()
            if not image_every_step:
                canvas.image()
    return run


def recompile_path(settings, scenes, size, objects):
    def run():   # a new model (with the scene's objects) and a new renderer for every scene
        for scene in scenes:
            model = M._Scene(settings["grid"], objects, False, 0)
            canvas = M.SceneCanvas(model, size)
            for s in scene:
                canvas.execute(s)
            canvas.image()
            model.close()
    return run


def median_rates(paths: dict, items: dict, rounds: int, seconds: float, warmup: float) -> dict:
    rates = {name: [] for name in paths}
    for fn in paths.values():   # warm up: GL contexts, llvmpipe's JIT-compiled shader variants
        rate(fn, 1, warmup, warmup=0)
    for _ in range(rounds):
        for name, fn in paths.items():
            rates[name].append(rate(fn, items[name], seconds, warmup=0))
    return {name: (statistics.median(r), min(r), max(r)) for name, r in rates.items()}


def recompile_parts(settings, size: int, repeats: int = 20) -> dict:
    """Milliseconds to compile the MJCF and to make a renderer (GL context + upload)."""
    mj = M._mujoco()
    xml = S.scene_xml(settings["grid"], settings["objects"])
    t0 = time.perf_counter()
    for _ in range(repeats):
        model = mj.MjModel.from_xml_string(xml)
    compile_ms = (time.perf_counter() - t0) / repeats * 1e3
    model.vis.global_.offwidth = model.vis.global_.offheight = size
    t0 = time.perf_counter()
    for _ in range(repeats):
        mj.Renderer(model, size, size).close()
    renderer_ms = (time.perf_counter() - t0) / repeats * 1e3
    return {"compile_ms": round(compile_ms, 2), "new_renderer_ms": round(renderer_ms, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=0.5, help="per measurement")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--warmup", type=float, default=1.5, help="seconds per path before timing")
    ap.add_argument("--scenes", type=int, default=32)
    args = ap.parse_args()
    settings = dict(DEFAULTS["scene"])          # grid 16, objects 5
    objects = settings["objects"]
    spec = ActionSpec.for_domain("scene", settings)
    rng = random.Random(0)
    scenes = [list(random_program(spec, objects, rng, style="uniform")) for _ in range(args.scenes)]
    assert all(len(s) == objects for s in scenes)
    backend = M.gl_backend()
    interp = M.MujocoInterpreter(shadows=False, msaa=0)
    fancy = M.MujocoInterpreter(shadows=True, msaa=4)
    few = scenes[:4]
    load_before = os.getloadavg()
    rows = {}
    for size in (64, 128):
        paths = {"in_place": scene_path(interp, settings, scenes, size),
                 "env_steps": scene_path(interp, settings, scenes, size, image_every_step=True),
                 "recompile": recompile_path(settings, few, size, objects),
                 "shadows_msaa4": scene_path(fancy, settings, few, size)}
        items = {"in_place": len(scenes), "env_steps": len(scenes) * objects,
                 "recompile": len(few), "shadows_msaa4": len(few)}
        r = median_rates(paths, items, args.rounds, args.seconds, args.warmup)
        rows[str(size)] = {
            "frames_per_s": round(r["in_place"][0], 1),
            "frames_per_s_range": [round(r["in_place"][1], 1), round(r["in_place"][2], 1)],
            "ms_per_frame": round(1e3 / r["in_place"][0], 3),
            "env_step_frames_per_s": round(r["env_steps"][0], 1),
            "recompile_per_scene_frames_per_s": round(r["recompile"][0], 2),
            "speedup_over_recompile": round(r["in_place"][0] / r["recompile"][0], 1),
            "shadows_msaa4_frames_per_s": round(r["shadows_msaa4"][0], 1),
            "recompile_parts": recompile_parts(settings, size),
        }
    result = {
        "benchmark": "mujoco",
        "scene": "random 5-object scenes (uniform over shape, cell, size, 4-level colour), grid 16",
        "frame": "start a canvas, place 5 objects, read the image (float32 H×W×3)",
        "sizes": rows,
        "target_frames_per_s_64": 500,
        "meets_target_64": rows["64"]["frames_per_s"] >= 500,
        "rounds": args.rounds,
        "statistic": "median over alternating rounds (range: min, max)",
        "gl_backend": backend,
        "mujoco": M._mujoco().__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, CPython {platform.python_version()}",
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }
    write_result("bench_mujoco", result)


if __name__ == "__main__":
    main()
