"""Ray: the same roles as actors; restarts after a worker dies; PBT on Ray Tune; SIGKILL + resume.

Ray starts once for this module (about 3 s and 900 MB), bound to 127.0.0.1.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synth import checkpoint as ckpt
from synth.config import load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_local():
    from synth.distributed import init_ray
    ray = init_ray(num_cpus=2)
    yield ray
    ray.shutdown()


def _listening(ray):
    """(process name, address) of every listening TCP socket of this process and the processes
    it started (the Ray servers and workers)."""
    import psutil  # shipped inside Ray (ray/thirdparty_files), importable once ray is
    me = psutil.Process()
    found = []
    for proc in [me, *me.children(recursive=True)]:
        try:
            found += [(proc.name(), c.laddr.ip) for c in proc.net_connections(kind="inet")
                      if c.status == psutil.CONN_LISTEN]
        except psutil.Error:   # a worker that exited meanwhile
            pass
    return found


def test_a_local_ray_instance_listens_on_loopback_only(ray_local):
    import ipaddress

    @ray_local.remote
    def ping():
        return 1
    assert ray_local.get(ping.remote()) == 1    # a worker is up and serving too
    sockets = _listening(ray_local)
    assert len(sockets) >= 3, sockets           # GCS, raylet, workers: really listed
    exposed = [(name, ip) for name, ip in sockets
               if not ipaddress.ip_address(ip.removeprefix("::ffff:")).is_loopback]
    assert not exposed, f"Ray listens beyond 127.0.0.1: {exposed}"


def tiny(tmp_path, **extra):
    overrides = [f"out_dir={tmp_path}"] + [f"{k}={v}" for k, v in extra.items()]
    return load_config(str(ROOT / "configs" / "tiny.toml"), overrides)


@pytest.mark.slow
def test_ray_workers_train_to_completion(ray_local, tmp_path):
    from synth.distributed import RayWorkers
    from synth.train import load_targets, train
    args = tiny(tmp_path, workers=2, updates=3)
    workers = RayWorkers(args, args.spec(), load_targets(args))
    try:
        metrics = train(args, workers=workers)
    finally:
        workers.close()
    assert metrics["update"] == 3
    assert metrics["frames"] == 3 * 2 * args.rl.batch * (args.run.episode_length - 1)
    policy, info = ckpt.load_model(tmp_path / "model.pt")
    assert info["update"] == 3


@pytest.mark.slow
def test_a_killed_worker_restarts_and_training_finishes(ray_local, tmp_path):
    from synth.distributed import RayWorkers
    from synth.train import load_targets, train
    args = tiny(tmp_path, workers=2, updates=4)
    workers = RayWorkers(args, args.spec(), load_targets(args))
    killed = []

    def kill_once(update, metrics, save):
        if update == 2 and not killed:
            ray_local.kill(workers.actors[0], no_restart=False)   # dies; Ray restarts it
            killed.append(update)
        return False

    try:
        metrics = train(args, workers=workers, callback=kill_once)
    finally:
        workers.close()
    assert killed and metrics["update"] == 4
    assert workers.restarts >= 1
    ckpt.load_model(tmp_path / "model.pt")


@pytest.mark.slow
def test_pbt_runs_a_tiny_population(ray_local, tmp_path, capsys):
    from synth.distributed import run_pbt
    from synth.errors import RunError
    from synth.train import train
    start = tmp_path / "start"
    train(tiny(start, updates=1))
    # a path relative to where the run starts, as a user writes it: members run elsewhere
    args = tiny(tmp_path, updates=4, init_from=os.path.relpath(start / "model.pt"))
    results = run_pbt(args, population=2, interval=2, storage=str(tmp_path / "tune"))
    assert len(results) == 2
    assert not results.errors, results.errors
    best = results.get_best_result()
    assert "mse" in best.metrics and best.checkpoint is not None
    assert best.metrics["fitness"] == pytest.approx(-best.metrics["mse"], rel=0.5)
    summary = json.loads((Path(args.run.out_dir) / "pbt_summary.json").read_text())
    assert summary["fitness"] == "-mean(mse)" and len(summary["members"]) == 2
    assert summary["best"]["fitness"] == max(m["fitness"] for m in summary["members"])
    assert summary["best"]["policy_lr"] > 0 and summary["best"]["entropy_coef"] > 0
    ckpt.load_model(summary["best"]["model"])
    # the command line names the best member's weights
    from spiral_dsl.cli import main as spiral
    out = tmp_path / "cli"
    assert spiral(["train", "--config", "configs/tiny.toml", "--pbt", "--population", "2",
                   "--pbt-interval", "2", "--set", "updates=2", "--set", f"out_dir={out}"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert printed.startswith("model: ") and printed.endswith("checkpoint.pt")
    ckpt.load_model(printed.removeprefix("model: "))
    with pytest.raises(RunError, match="every PBT member failed; the first: .*does not exist"):
        run_pbt(tiny(tmp_path / "bad", updates=2, init_from="no/such/model.pt"), population=2,
                interval=2, storage=str(tmp_path / "tune_bad"))


def test_pbt_fitness_is_the_critics_gap_or_the_negative_mse():
    from synth.distributed import fitness
    window = [{"mse": 0.04, "d_real": 1.0, "d_fake": -3.0},
              {"mse": 0.02, "d_real": 21.0, "d_fake": 19.0},   # the same gap, another offset
              {"mse": 0.03}]                                     # a value-only update: no critic
    assert fitness("discriminator", window) == pytest.approx(-3.0)
    assert fitness("mse", window) == pytest.approx(-0.03)
    # a member with no critic step yet is never the one to copy
    assert fitness("discriminator", [{"mse": 0.01}]) == float("-inf")
    assert fitness("mse", []) == float("-inf")


@pytest.mark.slow
def test_sigkill_then_resume_loses_at_most_one_interval(tmp_path):
    cmd = [sys.executable, "-m", "spiral_dsl", "train", "--config", str(ROOT / "configs" / "tiny.toml"),
           "--set", f"out_dir={tmp_path}", "--set", "updates=400", "--set", "checkpoint_every=2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = tmp_path / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 7:
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = json.loads(metrics.read_text().splitlines()[-1])["update"]
    saved = ckpt.load(tmp_path / "checkpoint.pt")["update"]
    assert done - saved <= 2, (done, saved)   # at most one checkpoint interval lost
    resumed = subprocess.run(cmd[:-4] + ["--resume", "--set", f"out_dir={tmp_path}", "--set", f"updates={saved + 2}",
                                         "--set", "checkpoint_every=2"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert ckpt.load(tmp_path / "checkpoint.pt")["update"] == saved + 2
