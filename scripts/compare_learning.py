"""Learning per frame of two policy architectures (or variants) from the same start:
MSE-vs-frames curves.

    OMP_NUM_THREADS=1 python scripts/compare_learning.py --frames 200000 \\
        [--config configs/mnist.toml] [--set key=value ...] [--archs spiral lean] [--plot-only]

An ``--archs`` entry is an architecture (``lean``) or a variant of one with its own overrides
after a colon (``lean:precision=bfloat16``; several joined by commas); its run folder and
curve are named after the entry. Each one trains with the same config, the same seed (so the same targets in the same
order and the same environment) and no pretraining: A2C from random weights, one torch thread
each, the runs side by side in their own processes (their frames/s are not a benchmark: they
share the machine). Every update's batch MSE is in ``<work>/<arch>/metrics.jsonl``; the
result is the curves smoothed over ``--window`` updates, compared at equal frames (the last
smoothed value, the mean batch MSE over all updates and over the last quarter of the frames),
written to
``bench/results/compare_learning.json`` and ``.png`` (``--out``, ``--name``). ``--plot-only`` rebuilds the result from
the metrics written so far (the runs may still be going, or have been stopped).

The defaults change ``configs/mnist.toml`` only where a from-scratch comparison needs it (see
DEFAULT_SET): no pretraining (``pretrain_updates = 0``), no value-only warm-up, a learning rate
for random weights rather than for fine-tuning, and batch 64 so that 200k frames are 164
updates rather than 41.

``--stage pretrain`` compares supervised pretraining instead (:mod:`synth.pretrain`, with the
config's ``pretrain_source``; ``pretrain_batch`` episodes per step): the curves are the
per-slot cross-entropy of the taken actions, in the JSON's ``mse`` fields.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
DEFAULT_SET = ["pretrain_updates=0", "value_warmup=0", "policy_lr=0.0003", "entropy_coef=0.01",
               "batch=64", "device=cpu", "threads=1", "max_seconds=0", "progress=false",
               "checkpoint_every=20", "seed=0"]
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def overrides(args, arch: str) -> list[str]:
    from synth.config import load_config
    base = load_config(args.config, DEFAULT_SET + args.set)
    steps = base.run.episode_length - 1
    if args.stage == "pretrain":
        per_update = (base.pretrain.pretrain_batch or base.rl.batch) * steps
        count = f"pretrain_updates={-(-args.frames // per_update)}"
    else:
        per_update = base.rl.batch * steps * base.run.workers
        count = f"updates={-(-args.frames // per_update)}"
    name, _, extra = arch.partition(":")
    own = [item for item in extra.split(",") if item]
    return DEFAULT_SET + args.set + [f"arch={name}", *own, count, f"out_dir={run_folder(args, arch)}"]


def run_folder(args, arch: str) -> Path:
    """``<work>/<entry>`` with the variant's ``:``, ``=`` and ``,`` made filename-safe."""
    return Path(args.work) / arch.replace(":", "_").replace("=", "-").replace(",", "_")


def run_one(config_path: str, items: list[str], stage: str) -> None:
    from synth.config import load_config
    config = load_config(config_path, items)
    if stage == "pretrain":
        from synth.pretrain import pretrain
        pretrain(config)
    else:
        from synth.train import train
        train(config)


def series(path: Path, window: int, key: str = "mse") -> list[dict]:
    """The runs' ``key`` per update, with its mean over the last ``window`` updates; stored
    under ``mse``/``mse_smoothed`` whatever ``key`` is (``loss`` for pretraining)."""
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if key in r]
    out = []
    for i, r in enumerate(rows):
        recent = rows[max(0, i + 1 - window):i + 1]
        out.append({"update": r["update"], "frames": r["frames"], "seconds": r["seconds"],
                    "mse": round(r[key], 5),
                    "mse_smoothed": round(sum(x[key] for x in recent) / len(recent), 5)})
    return out


def summarize(args) -> dict:
    name, key = ("pretrain_metrics.jsonl", "loss") if args.stage == "pretrain" else ("metrics.jsonl", "mse")
    curves = {a: series(run_folder(args, a) / name, args.window, key) for a in args.archs}
    common = min((c[-1]["frames"] if c else 0) for c in curves.values())
    result = {"benchmark": "learning per frame", "stage": args.stage,
              "measure": "pretraining loss (per-slot cross-entropy)" if args.stage == "pretrain"
              else "batch MSE", "config": args.config,
              "set": DEFAULT_SET + args.set, "frames_target": args.frames, "window": args.window,
              "frames_compared": common, "curves": curves}
    if common:
        at = {a: [p for p in c if p["frames"] <= common] for a, c in curves.items()}
        def mean(pts):
            return round(sum(p["mse"] for p in pts) / len(pts), 5)
        result["at_equal_frames"] = {a: {"first_mse": pts[0]["mse"],
                                         "mse_smoothed": pts[-1]["mse_smoothed"],
                                         "mse_mean": mean(pts),
                                         "mse_mean_last_quarter": mean([p for p in pts if p["frames"] > 0.75 * common]),
                                         "updates": pts[-1]["update"],
                                         "seconds": pts[-1]["seconds"]} for a, pts in at.items()}
    return result


def plot(result: dict, out: Path) -> None:
    from PIL import Image, ImageDraw
    W, H, M = 720, 420, 60
    curves = {a: [(p["frames"], p["mse_smoothed"]) for p in c] for a, c in result["curves"].items() if c}
    if not curves:
        return
    x1 = max(x for c in curves.values() for x, _ in c)
    ys = [y for c in curves.values() for _, y in c]
    y0, y1 = min(ys) * 0.95, max(ys) * 1.05
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    d.rectangle([M, M // 2, W - M // 2, H - M], outline="black")

    def px(x, y):
        return M + (W - 1.5 * M) * x / x1, (H - M) - (H - 1.5 * M) * (y - y0) / max(y1 - y0, 1e-9)

    for k in range(6):
        y = y0 + (y1 - y0) * k / 5
        d.text((4, px(0, y)[1] - 6), f"{y:.4f}", fill="black")
        x = x1 * k / 5
        d.text((px(x, y0)[0] - 14, H - M + 6), f"{x / 1000:.0f}k", fill="black")
    d.text((W // 2 - 40, H - 24), "env frames", fill="black")
    start = next((item.split("=", 1)[1] for item in result["set"] if item.startswith("init_from=")), "")
    what = ("pretraining loss on random programs" if result.get("stage") == "pretrain"
            else f"batch MSE (raster), A2C from {Path(start).name if start else 'scratch'}")
    d.text((M, 8), f"{what}, smoothed over {result['window']} updates", fill="black")
    for n, (arch, c) in enumerate(curves.items()):
        colour = COLOURS[n % len(COLOURS)]
        if len(c) > 1:
            d.line([px(x, y) for x, y in c], fill=colour, width=2)
        d.text((W - 200, M // 2 + 10 + 16 * n), f"-- {arch}", fill=colour)
    img.save(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, required=True, help="env frames per architecture")
    ap.add_argument("--config", default=str(ROOT / "configs" / "mnist.toml"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config override for every run (after DEFAULT_SET)")
    ap.add_argument("--archs", nargs="+", default=["spiral", "lean"])
    ap.add_argument("--work", default=str(ROOT / "runs" / "compare_learning"))
    ap.add_argument("--window", type=int, default=10, help="updates the curves are smoothed over")
    ap.add_argument("--name", default="compare_learning", help="result file name (no suffix)")
    ap.add_argument("--out", default=str(RESULTS), help="folder of the result files")
    ap.add_argument("--stage", choices=["rl", "pretrain"], default="rl",
                    help="rl: A2C (batch MSE); pretrain: behaviour cloning (synth.pretrain; its loss)")
    ap.add_argument("--plot-only", action="store_true")
    args = ap.parse_args()
    if not args.plot_only:
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=run_one, args=(args.config, overrides(args, a), args.stage), name=a)
                 for a in args.archs]
        for p in procs:
            p.start()
        while any(p.is_alive() for p in procs):  # a partial result while the runs go on
            for p in procs:
                p.join(timeout=60 / len(procs))
            _write(args)
        if any(p.exitcode for p in procs):
            raise SystemExit(f"a run failed: {[(p.name, p.exitcode) for p in procs]}")
        for p in procs:
            p.join()
    _write(args)
    return 0


def _write(args) -> None:
    from spiral_dsl.io import write_atomic
    result = summarize(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / f"{args.name}.json", json.dumps(result, indent=1) + "\n")
    plot(result, out / f"{args.name}.png")
    print(json.dumps({k: v for k, v in result.items() if k != "curves"}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
