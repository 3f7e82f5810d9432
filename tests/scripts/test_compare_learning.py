"""scripts/compare_learning.py: a tiny side-by-side run gives both curves, compared at equal frames."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_tiny_comparison_writes_both_curves_at_equal_frames(tmp_path):
    tiny = ["--set", "batch=2", "--set", "episode_length=3", "--set", "channels=4", "--set", "hidden=8",
            "--set", "targets=mnist-eval"]
    subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_learning.py"), "--frames", "12",
                    "--work", str(tmp_path / "runs"), "--out", str(tmp_path), "--name", "c", *tiny],
                   check=True, capture_output=True, cwd=ROOT)
    result = json.loads((tmp_path / "c.json").read_text())
    curves = result["curves"]
    assert set(curves) == {"spiral", "lean"}
    for arch in curves:                       # 12 frames = 3 updates of 2 episodes × 2 actions
        assert [p["frames"] for p in curves[arch]] == [4, 8, 12]
        args = json.loads((tmp_path / "runs" / arch / "args.json").read_text())
        assert args["arch"] == arch and args["pretrain_updates"] == 0 and args["seed"] == 0
    assert result["frames_compared"] == 12 and set(result["at_equal_frames"]) == {"spiral", "lean"}
    assert (tmp_path / "c.png").stat().st_size > 0


def test_the_pretraining_stage_compares_the_cloning_loss(tmp_path):
    tiny = ["--set", "pretrain_source=random", "--set", "pretrain_batch=2", "--set", "pretrain_seconds=0",
            "--set", "episode_length=3", "--set", "channels=4", "--set", "hidden=8"]
    subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_learning.py"), "--stage", "pretrain",
                    "--frames", "8", "--work", str(tmp_path / "runs"), "--out", str(tmp_path), "--name", "p",
                    *tiny], check=True, capture_output=True, cwd=ROOT)
    result = json.loads((tmp_path / "p.json").read_text())
    assert result["stage"] == "pretrain" and result["frames_compared"] == 8
    for curve in result["curves"].values():          # 8 frames = 2 steps of 2 episodes × 2 actions
        assert [p["frames"] for p in curve] == [4, 8] and all(p["mse"] > 0 for p in curve)


def test_a_variant_of_one_architecture_runs_with_its_own_overrides(tmp_path):
    tiny = ["--set", "batch=2", "--set", "episode_length=3", "--set", "channels=4", "--set", "hidden=8",
            "--set", "targets=mnist-eval"]
    subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_learning.py"), "--frames", "8",
                    "--archs", "lean", "lean:precision=bfloat16", "--work", str(tmp_path / "runs"),
                    "--out", str(tmp_path), "--name", "v", *tiny], check=True, capture_output=True, cwd=ROOT)
    result = json.loads((tmp_path / "v.json").read_text())
    assert set(result["curves"]) == {"lean", "lean:precision=bfloat16"}
    plain = json.loads((tmp_path / "runs" / "lean" / "args.json").read_text())
    variant = json.loads((tmp_path / "runs" / "lean_precision-bfloat16" / "args.json").read_text())
    assert (plain["precision"], variant["precision"]) == ("float32", "bfloat16")
    assert variant["arch"] == "lean" and result["frames_compared"] == 8
