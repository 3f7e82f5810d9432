"""End to end: a seconds-long `spiral train` writes a loadable checkpoint and resumes;
synthesize behaves; bad inputs are clear errors (search: tests/synth/test_search.py)."""
import json

import numpy as np
import pytest

from spiral_dsl import Program, SplError
from spiral_dsl.cli import main as spiral
from synth import checkpoint as ckpt
from synth.config import load_config

TINY = ["--config", "configs/tiny.toml"]


def test_tiny_train_writes_checkpoint_and_resumes(tmp_path):
    out = tmp_path / "run"
    assert spiral(["train", *TINY, "--pretrain", "2", "--set", f"out_dir={out}"]) == 0
    policy, info = ckpt.load_model(out / "model.pt")
    assert info["update"] == 3 and policy.spec.domain == "paint"
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["update"] for x in lines] == [1, 2, 3]
    assert (out / "pretrained.pt").is_file()
    # resume: three more updates continue the count
    assert spiral(["train", *TINY, "--resume", "--set", f"out_dir={out}", "--set", "updates=5"]) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["update"] for x in lines][-2:] == [4, 5]
    assert ckpt.load(out / "checkpoint.pt")["update"] == 5


def test_discriminator_reward_and_unconditional(tmp_path):
    for extra in (["--set", "reward=discriminator"], ["--set", "reward=discriminator", "--set", "conditional=false"]):
        out = tmp_path / ("u" if "conditional=false" in extra else "c")
        assert spiral(["train", *TINY, "--set", f"out_dir={out}", "--set", "updates=2", *extra]) == 0
        lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        assert "d_loss" in lines[-1]


def test_checkpoints_load_without_pickled_code(tmp_path):
    import pickle
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(print))
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load_model(evil)
    with pytest.raises(ckpt.CheckpointError, match="does not exist"):
        ckpt.load_model(tmp_path / "none.pt")


def test_synthesize_rejects_bad_input(tmp_path):
    from spiral_dsl import synthesize
    with pytest.raises(SplError, match="shape"):
        synthesize(np.zeros((4, 4, 4, 4)), method="greedy")
    with pytest.raises(SplError, match="in \\[0, 1\\]"):
        synthesize(np.full((28, 28), 7.0), method="greedy")
    with pytest.raises(SplError, match="dtype"):
        synthesize(np.zeros((28, 28), dtype=np.complex64), method="greedy")
    with pytest.raises(SplError, match="method="):
        synthesize(np.zeros((28, 28)), method="magic")
    with pytest.raises(SplError, match="does not exist"):
        synthesize(tmp_path / "nope.png", method="greedy")


def test_synthesize_with_a_trained_checkpoint(tmp_path):
    from spiral_dsl import synthesize
    out = tmp_path / "run"
    assert spiral(["train", *TINY, "--set", f"out_dir={out}", "--set", "updates=1"]) == 0
    target = np.ones((64, 64, 3), np.float32)
    target[20:44, 30:34] = 0.0
    p = synthesize(target, checkpoint=out / "model.pt", samples=4, seed=3, episode_length=4)
    assert isinstance(p, Program) and len(p) <= 3      # episode_length=4: 3 actions, then tidied
    assert float(p.metadata["mse"]) == pytest.approx(np.mean((p.render() - target) ** 2), abs=1e-5)
    q = synthesize(target, checkpoint=out / "model.pt", samples=4, seed=3, episode_length=4)
    assert q == p   # deterministic for a seed
    path = tmp_path / "p.spl"
    p.save(path)
    assert Program.load(path).metadata["checkpoint"] == "model.pt"


def test_device_choice():
    import torch
    assert load_config("configs/tiny.toml", ["device=auto"]).torch_device().type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(SplError, match="no CUDA device"):
            load_config("configs/tiny.toml", ["device=cuda"])
    with pytest.raises(SplError, match="device='tpu' must be one of"):
        load_config("configs/tiny.toml", ["device=tpu"])


def test_value_warmup_trains_only_the_baseline():
    import torch

    from synth.roles import PolicyLearner, RolloutWorker
    config = load_config("configs/tiny.toml")
    spec = config.spec()
    worker = RolloutWorker(spec, config.policy, 4, 4, None, seed=0)
    learner = PolicyLearner(spec, config.policy, lr=1e-2)
    worker.set_weights(learner.get_weights(), 0)
    traj = worker.rollout()
    before = {k: v.clone() for k, v in learner.policy.state_dict().items()}
    heads = {k: v.clone() for k, v in learner.policy.heads.state_dict().items()}
    learner.update(traj, torch.full((4,), -1.0), value_only=True)
    after = learner.policy.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved == {"value_head.weight", "value_head.bias"}   # the shared trunk stays put
    learner.update(traj, torch.full((4,), -1.0))
    assert not all(torch.equal(v, learner.policy.heads.state_dict()[k]) for k, v in heads.items())


def test_scene_synthesis_with_a_trained_checkpoint(tmp_path):
    from spiral_dsl import synthesize
    from spiral_dsl.ast import Place
    out = tmp_path / "scenes"
    assert spiral(["train", "--config", "configs/scenes.toml", "--set", f"out_dir={out}",
                   "--set", "channels=8", "--set", "hidden=32", "--set", "pretrain_batch=4",
                   "--set", "pretrain_scenes=20", "--set", "pretrain_updates=2"]) == 0
    target = np.full((64, 64, 3), 0.5, np.float32)
    p = synthesize(target, domain="scene", checkpoint=out / "model.pt", samples=3, seed=1)
    assert p.header.domain == "scene" and len(p) <= 5     # an untrained policy may stop at once
    assert all(isinstance(s, Place) for s in p)
    from spiral_dsl.actions import ActionSpec
    cells = [a["cell"] for a in ActionSpec.for_domain("scene").encode_program(p)]
    assert len(set(cells)) == len(cells)          # objects in distinct cells
    assert float(p.metadata["mse"]) == pytest.approx(np.mean((p.render() - target) ** 2), abs=1e-5)
    m = synthesize(target, domain="scene", method="mcmc", budget=20, seed=1)
    assert m.metadata["method"] == "mcmc" and 1 <= len(m) <= 5
    with pytest.raises(SplError, match="method='greedy' is not one of \\['policy\\+refine', 'policy', 'mcmc'\\]"):
        synthesize(target, domain="scene", method="greedy")
    with pytest.raises(SplError, match="is a scene policy, not paint"):
        synthesize(target, checkpoint=out / "model.pt")


def test_eval_rejects_bad_options(capsys):
    assert spiral(["eval", "--threads", "0"]) != 0
    assert "--threads=0 must be >= 1" in capsys.readouterr().err
    assert spiral(["eval", "--domain", "scene", "--mcmc", "1,x"]) != 0
    assert "expected comma-separated integers >= 1" in capsys.readouterr().err


def test_explicit_pretrain_continues_from_init_from(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert spiral(["train", *TINY, "--pretrain", "2", "--set", f"out_dir={first}", "--set", "updates=1"]) == 0
    # init_from alone: no pretraining; with --pretrain: pretraining continues from it
    assert spiral(["train", *TINY, "--set", f"out_dir={second}", "--set", f"init_from={first / 'pretrained.pt'}",
                   "--set", "updates=1"]) == 0
    assert not (second / "pretrained.pt").exists()
    assert spiral(["train", *TINY, "--pretrain", "1", "--set", f"out_dir={second}",
                   "--set", f"init_from={first / 'pretrained.pt'}", "--set", "updates=1"]) == 0
    assert (second / "pretrained.pt").is_file()
    # distill_init: the config's own pretraining, from init_from (a round of expert iteration)
    third = tmp_path / "c"
    assert spiral(["train", *TINY, "--set", "pretrain_updates=1", "--set", "distill_init=true",
                   "--set", f"out_dir={third}", "--set", f"init_from={first / 'pretrained.pt'}",
                   "--set", "updates=1"]) == 0
    assert (third / "pretrained.pt").is_file()


# --- robustness: resume, SIGTERM, one run per out_dir, no repeated metrics ---

def _updates(path):
    return [json.loads(x)["update"] for x in path.read_text().splitlines()]


def test_unknown_targets_are_an_error_before_pretraining(tmp_path, capsys):
    out = tmp_path / "run"
    for targets in (str(tmp_path / "nowhere"), ""):
        assert spiral(["train", *TINY, "--pretrain", "1", "--set", f"out_dir={out}",
                       "--set", f"targets={targets}"]) == 1
        err = capsys.readouterr().err
        assert f"unknown target set {targets!r}" in err and "pretrain" not in err
        assert not out.exists()


def test_resume_without_a_checkpoint_is_an_error(tmp_path, capsys):
    out = tmp_path / "empty"
    assert spiral(["train", *TINY, "--resume", "--set", f"out_dir={out}"]) == 1
    err = capsys.readouterr().err
    assert f"--resume: {out} holds no checkpoint.pt or pretrain_checkpoint.pt" in err
    assert not out.exists()


def test_resume_with_pbt_is_an_error_before_any_work(tmp_path, capsys):
    out = tmp_path / "pbt"
    assert spiral(["train", *TINY, "--pbt", "--resume", "--set", f"out_dir={out}"]) == 1
    assert "--resume does not apply to --pbt" in capsys.readouterr().err
    assert not out.exists()


def test_resume_drops_metrics_logged_after_the_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    assert spiral(["train", *TINY, "--set", f"out_dir={out}", "--set", "updates=3"]) == 0
    # as after a kill between update 3's metrics line and its checkpoint: the checkpoint says 2
    state = ckpt.load(out / "checkpoint.pt")
    state["update"] = 2
    ckpt.save_atomic(state, out / "checkpoint.pt")
    assert spiral(["train", *TINY, "--resume", "--set", f"out_dir={out}", "--set", "updates=4"]) == 0
    assert _updates(out / "metrics.jsonl") == [1, 2, 3, 4]


_HOLD = """
import sys, time
from synth import rundir
with rundir.locked(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_one_run_per_out_dir_and_stale_locks_are_taken_over(tmp_path, capsys):
    import subprocess
    import sys
    out = tmp_path / "run"
    lock = out / "run.lock"
    other = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert other.stdout.readline() == "held\n"
        args = ["train", *TINY, "--set", f"out_dir={out}", "--set", "updates=1"]
        assert spiral(args) == 1
        err = capsys.readouterr().err
        assert f"out_dir {out} is in use by another run (pid {other.pid}" in err
        assert not (out / "metrics.jsonl").exists() and lock.exists()
    finally:
        other.kill()   # SIGKILL: the lock file stays, the kernel's lock goes
        other.wait()
    assert lock.exists()
    assert spiral(args) == 0          # the owner is gone: its lock is stale
    assert f"taking over the lock of a run that no longer runs ({lock}, pid {other.pid})" \
        in capsys.readouterr().err
    assert not lock.exists() and _updates(out / "metrics.jsonl") == [1]


_RACE = """
import sys, time
from synth import rundir
from synth.errors import RunError
while time.time() < float(sys.argv[2]):
    pass
try:
    with rundir.locked(sys.argv[1]):
        print("won", flush=True)
        sys.stdin.read()   # held until the test has every answer (a late starter finds it held)
except RunError:
    print("lost", flush=True)
"""


def test_runs_taking_over_one_stale_lock_at_once_leave_one_owner(tmp_path):
    """Several runs start together on an out_dir whose lock file a killed run left: exactly one
    takes it (the others see it in use), never two at once."""
    import socket
    import subprocess
    import sys
    import time
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "run.lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    go = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", _RACE, str(tmp_path), str(go)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
             for _ in range(6)]
    results = sorted(p.stdout.readline().strip() for p in procs)
    for p in procs:
        p.communicate(timeout=60)   # closes stdin: the winner lets go
    assert results == ["lost"] * 5 + ["won"]


def test_the_lock_is_reentrant_within_a_process_and_released(tmp_path):
    from synth import rundir
    with rundir.locked(tmp_path):
        with rundir.locked(tmp_path / "."):
            assert (tmp_path / "run.lock").exists()
        assert (tmp_path / "run.lock").exists()
    assert not (tmp_path / "run.lock").exists()


def test_train_and_pretrain_restore_the_sigterm_handler(tmp_path):
    """The SIGTERM handler is the training loop's only during the call, also when it fails."""
    import signal

    from synth.pretrain import pretrain
    from synth.train import train
    config = load_config("configs/tiny.toml", [f"out_dir={tmp_path}", "updates=1",
                                               "pretrain_updates=1"])
    before = signal.getsignal(signal.SIGTERM)
    during = []
    pretrain(config, stop=lambda: during.append(signal.getsignal(signal.SIGTERM)))
    assert signal.getsignal(signal.SIGTERM) is before
    train(config, callback=lambda *_: during.append(signal.getsignal(signal.SIGTERM)))
    assert signal.getsignal(signal.SIGTERM) is before
    assert len(during) == 2 and all(h is not before and callable(h) for h in during)

    def fail(*_):
        raise KeyboardInterrupt   # as Ctrl-C in the middle of an update

    with pytest.raises(KeyboardInterrupt):
        train(config.replace(updates=2), callback=fail)
    assert signal.getsignal(signal.SIGTERM) is before


def _train_until(cmd, log, lines, tmp_path):
    """Start ``cmd``, wait until ``log`` has ``lines`` lines, SIGTERM it; (returncode, stderr)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    err = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "spiral_dsl", *cmd], stdout=subprocess.DEVNULL,
                            stderr=err)
    deadline = time.time() + 120
    while time.time() < deadline:
        assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
        if log.exists() and len(log.read_text().splitlines()) >= lines:
            break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGTERM)
    code = proc.wait(timeout=120)
    err.close()
    return code, (tmp_path / "stderr.txt").read_text()


def test_sigterm_during_rl_writes_a_final_checkpoint(tmp_path):
    out = tmp_path / "run"
    code, err = _train_until(["train", *TINY, "--set", f"out_dir={out}", "--set", "updates=100000",
                              "--set", "checkpoint_every=1000"], out / "metrics.jsonl", 3, tmp_path)
    assert code == 143 and "Traceback" not in err, err
    assert "stopped by SIGTERM" in err
    done = _updates(out / "metrics.jsonl")[-1]
    assert ckpt.load(out / "checkpoint.pt")["update"] == done >= 3    # not the periodic one
    assert ckpt.load_model(out / "model.pt")[1]["update"] == done
    assert not (out / "run.lock").exists()


def test_sigterm_during_pretraining_then_resume_continues_pretraining(tmp_path, capsys):
    out = tmp_path / "run"
    code, err = _train_until(["train", *TINY, "--pretrain", "100000", "--set", f"out_dir={out}",
                              "--set", "checkpoint_every=1000"],
                             out / "pretrain_metrics.jsonl", 3, tmp_path)
    assert code == 143 and "Traceback" not in err, err
    state = ckpt.load(out / "pretrain_checkpoint.pt")
    done = _updates(out / "pretrain_metrics.jsonl")[-1]
    assert state["update"] == done >= 3 and not state["finished"]
    assert not (out / "checkpoint.pt").exists() and not (out / "metrics.jsonl").exists()
    # --resume continues pretraining (not RL from random weights), then runs RL from it
    assert spiral(["train", *TINY, "--resume", "--pretrain", str(done + 2),
                   "--set", f"out_dir={out}"]) == 0
    assert f"resumed pretraining {out / 'pretrain_checkpoint.pt'} at step {done}" \
        in capsys.readouterr().err
    assert _updates(out / "pretrain_metrics.jsonl") == list(range(1, done + 3))
    assert ckpt.load_model(out / "pretrained.pt")[1]["update"] == done + 2
    assert ckpt.load(out / "pretrain_checkpoint.pt")["finished"]
    assert _updates(out / "metrics.jsonl") == [1, 2, 3]
    # a finished pretraining is not repeated by a later --resume
    assert spiral(["train", *TINY, "--resume", "--pretrain", str(done + 2),
                   "--set", f"out_dir={out}", "--set", "updates=4"]) == 0
    assert _updates(out / "pretrain_metrics.jsonl") == list(range(1, done + 3))
    assert _updates(out / "metrics.jsonl") == [1, 2, 3, 4]


def test_resume_alone_continues_a_pretraining_started_with_the_pretrain_option(tmp_path, capsys):
    """``--pretrain N`` (the config has pretrain_updates = 0), killed during pretraining, then
    ``--resume`` alone: pretraining continues to N, and RL starts from it, not from random
    weights (issue 13, item 3)."""
    out = tmp_path / "run"
    code, err = _train_until(["train", *TINY, "--pretrain", "100000", "--set", f"out_dir={out}",
                              "--set", "checkpoint_every=1000"],
                             out / "pretrain_metrics.jsonl", 2, tmp_path)
    assert code == 143, err
    done = ckpt.load(out / "pretrain_checkpoint.pt")["update"]
    # as if the run had been started with --pretrain done+1
    state = ckpt.load(out / "pretrain_checkpoint.pt")
    state["updates"] = done + 1
    ckpt.save_atomic(state, out / "pretrain_checkpoint.pt")
    assert spiral(["train", *TINY, "--resume", "--set", f"out_dir={out}", "--set", "updates=1"]) == 0
    assert f"resumed pretraining {out / 'pretrain_checkpoint.pt'} at step {done}" \
        in capsys.readouterr().err
    assert ckpt.load(out / "pretrain_checkpoint.pt")["finished"]
    assert ckpt.load_model(out / "pretrained.pt")[1]["update"] == done + 1
    assert _updates(out / "pretrain_metrics.jsonl")[-1] == done + 1
    # RL started from the pretrained model
    assert json.loads((out / "args.json").read_text())["init_from"] == str(out / "pretrained.pt")
    assert _updates(out / "metrics.jsonl") == [1]


def test_sigterm_to_the_process_group_while_the_teacher_is_built_stops_promptly(tmp_path):
    """SIGTERM (to the whole group, as a scheduler sends it: the teacher's worker processes die
    too) while pretraining builds its teacher programs: the run saves the programs found so far
    and a resumable pretraining state, and exits 143 within seconds (not blocked on the lost
    workers' results, nor building the whole teacher first)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import numpy as np
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "spiral_dsl", "train", *TINY, "--pretrain", "5",
           "--set", f"out_dir={out}", "--set", "pretrain_source=teacher", "--set",
           "teacher_candidates=4", "--set", "teacher_polish=0", "--set", "teacher_workers=2"]
    err = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not (out / "teacher.npz").exists() and time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGTERM)
        t0 = time.time()
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        err.close()
    text = (tmp_path / "stderr.txt").read_text()
    assert code == 143 and time.time() - t0 < 15 and "Traceback" not in text, text
    built = np.load(out / "teacher.npz")["done"]
    assert 0 < built.sum() < len(built)                       # partial: a build to resume
    state = ckpt.load(out / "pretrain_checkpoint.pt")
    assert state["update"] == 0 and not state["finished"] and state["updates"] == 5


def test_resume_continues_a_run_stopped_while_its_teacher_was_built(tmp_path):
    """A run stopped while it built its teacher programs (Ctrl-C) has a partial teacher file
    and no checkpoint yet: ``--resume`` continues the build, pretrains and trains."""
    import numpy as np

    from spiral_dsl.io import save_image
    from synth.data import load_mnist
    from synth.teacher import build_teacher
    digits = tmp_path / "digits"
    digits.mkdir()
    for k, image in enumerate(load_mnist("eval", 64)[0][:6]):
        save_image(image, digits / f"{k}.png")
    out = tmp_path / "run"
    args = [*TINY, "--set", f"out_dir={out}", "--set", f"targets={digits}", "--set",
            "pretrain_source=teacher", "--set", "pretrain_updates=2", "--set", "teacher_candidates=4",
            "--set", "teacher_polish=0", "--set", "teacher_workers=1", "--set", "progress=false"]
    config = load_config("configs/tiny.toml", [a for a in args[2:] if a != "--set"])
    images = load_mnist("eval", 64)[0][:6]
    build_teacher(images, config.spec(), out / "teacher.npz", steps=3, candidates=4, polish=0,
                  workers=1, progress=False, stop=lambda: True)      # stopped before any program
    assert not np.load(out / "teacher.npz")["done"].any()
    assert not (out / "checkpoint.pt").exists() and not (out / "pretrain_checkpoint.pt").exists()
    assert spiral(["train", *args, "--resume"]) == 0
    assert np.load(out / "teacher.npz")["done"].all()
    assert (out / "pretrained.pt").is_file() and (out / "model.pt").is_file()


# --- torch threads: chosen by the config, restored for a library caller ---

def test_training_sets_torch_threads_from_the_config_and_restores_them(tmp_path):
    import os

    import torch

    from synth.pretrain import pretrain
    from synth.train import train
    config = load_config("configs/tiny.toml", [f"out_dir={tmp_path}", "updates=1",
                                               "pretrain_updates=1", "threads=1"])
    assert load_config(None).torch_threads() == max(1, (os.cpu_count() or 1) - 1)
    before = torch.get_num_threads()
    seen = []
    torch.set_num_threads(3)
    try:
        pretrain(config, stop=lambda: seen.append(torch.get_num_threads()))
        assert torch.get_num_threads() == 3
        train(config, callback=lambda update, metrics, save: seen.append(torch.get_num_threads()))
        assert torch.get_num_threads() == 3
        assert seen == [1, 1]
        # with shards (cores for RL), pretraining threads on them: it does not shard
        sharded = config.replace(shards=2)
        seen.clear()
        pretrain(sharded, stop=lambda: seen.append(torch.get_num_threads()))
        assert seen == [2] and torch.get_num_threads() == 3
        seen.clear()
        # ... and RL's learner is one of the shards: one thread, whatever `threads` says
        train(sharded.replace(threads=2, updates=1), callback=lambda u, m, s: seen.append(torch.get_num_threads()))
        assert seen == [1] and torch.get_num_threads() == 3
        seen.clear()
    finally:
        torch.set_num_threads(before)
