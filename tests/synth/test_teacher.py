"""Teacher programs (greedy search over training targets) and distillation from them."""
import numpy as np
import pytest
import torch

from spiral_dsl.actions import ActionSpec
from synth.batch_env import BatchEnv
from synth.data import load_set
from synth.errors import DataError
from synth.pretrain import make_teacher_batch, pretrain_loss, teacher_prefixes
from synth.search import render_actions
from synth.teacher import build_teacher, load_teacher, pad_program

SPEC = ActionSpec.for_domain("paint", {"canvas": 64, "grid": 32, "brush": "classic/dry_brush"})


@pytest.fixture(scope="module")
def digits():
    images, _ = load_set("mnist-eval", size=64)
    return images[[0, 150, 300]]


def test_padding_moves_draw_nothing():
    actions = [{"flag": 0, "end": 100}, {"flag": 1, "end": 300, "control": 200, "size": 2, "pressure": 7,
                                         "red": 0, "green": 0, "blue": 0}]
    padded = pad_program(SPEC, actions, 6)
    assert padded.shape == (6, len(SPEC.order))
    rows = [dict(zip(SPEC.order, map(int, r))) for r in padded]
    assert all(r["flag"] == 0 and r["end"] == 300 for r in rows[2:])
    short = [{s: r.get(s, 0) for s in SPEC.order} for r in actions]
    assert torch.equal(render_actions(SPEC, [rows]), render_actions(SPEC, [short]))


def test_build_resume_and_load(tmp_path, digits):
    out = tmp_path / "teacher.npz"
    build_teacher(digits[:2], SPEC, out, steps=5, candidates=8, polish=1, workers=1, progress=False)
    first = np.load(out)
    assert first["done"].all() and first["actions"].shape == (2, 5, len(SPEC.order))
    with pytest.raises(DataError, match="2 programs for 3 targets"):
        load_teacher(out, SPEC, 3)
    # a partial file resumes: only the missing programs are searched
    data = dict(np.load(out))
    data["done"][1] = False
    data["actions"][1] = 0
    np.savez(out, **data)
    with pytest.raises(DataError, match="incomplete"):
        load_teacher(out, SPEC, 2)
    build_teacher(digits[:2], SPEC, out, steps=5, candidates=8, polish=1, workers=1, progress=False)
    again = load_teacher(out, SPEC, 2)
    np.testing.assert_array_equal(again["actions"], first["actions"])   # seeded per target
    # every teacher program draws something and beats the blank canvas (raster MSE)
    blank = ((1 - digits[:2]) ** 2).mean(axis=(1, 2, 3))
    assert (again["mse"] < blank).all()
    other = ActionSpec.for_domain("paint", {"canvas": 64, "grid": 16, "brush": "classic/dry_brush"})
    with pytest.raises(DataError, match="was built for"):
        load_teacher(out, other, 2)
    with pytest.raises(DataError, match="remove it or choose another path"):
        build_teacher(digits[:2], other, out, steps=5, candidates=8, polish=1, workers=1, progress=False)
    np.testing.assert_array_equal(np.load(out)["actions"], first["actions"])   # left alone


def test_distillation_batch_and_loss_decreases(tmp_path, digits):
    from synth.nets import Policy, PolicyConfig
    out = tmp_path / "teacher.npz"
    build_teacher(digits, SPEC, out, steps=4, candidates=8, polish=0, workers=1, progress=False)
    teacher = torch.from_numpy(load_teacher(out, SPEC, 3)["actions"].astype(np.int64))
    targets = torch.from_numpy(np.ascontiguousarray(digits.transpose(0, 3, 1, 2)))
    env = BatchEnv(SPEC, 3, 5, "raster")
    canvases, actions, target = make_teacher_batch(SPEC, env, teacher, targets, torch.arange(3))
    assert canvases.shape == (4, 3, 3, 64, 64) and actions["end"].shape == (4, 3)
    assert canvases.dtype == torch.uint8
    assert torch.equal(target, targets)            # the real digits, not the teacher's renders
    torch.manual_seed(0)
    policy = Policy(SPEC, PolicyConfig(channels=8, hidden=32))
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss, _ = pretrain_loss(policy, canvases, actions, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_cached_teacher_prefixes_are_the_rendered_canvases(tmp_path, digits):
    out = tmp_path / "teacher.npz"
    build_teacher(digits, SPEC, out, steps=4, candidates=8, polish=0, workers=1, progress=False)
    teacher = torch.from_numpy(load_teacher(out, SPEC, 3)["actions"].astype(np.int64))
    targets = torch.from_numpy(np.ascontiguousarray(digits.transpose(0, 3, 1, 2)))
    env = BatchEnv(SPEC, 2, 5, "raster")   # 3 programs in batches of 2: the last one wraps round
    prefixes = teacher_prefixes(SPEC, env, teacher)
    assert prefixes.shape == (3, 4, 3, 64, 64) and prefixes.dtype == torch.uint8
    assert (prefixes[:, -1] < 255).any()          # the teacher drew before its last action
    for index in (torch.tensor([0, 2]), torch.tensor([2, 1]), torch.tensor([1, 1])):
        cached = make_teacher_batch(SPEC, env, teacher, targets, index, prefixes)
        rendered = make_teacher_batch(SPEC, env, teacher, targets, index)
        assert torch.equal(cached[0], rendered[0])
        assert all(torch.equal(cached[1][s], rendered[1][s]) for s in SPEC.order)
        assert torch.equal(cached[2], rendered[2])
    # bounded before it is allocated: one byte short of the size is refused
    assert teacher_prefixes(SPEC, env, teacher, limit_bytes=3 * 4 * 3 * 64 * 64 - 1) is None


def test_a_folder_as_the_teacher_file_is_an_error_before_any_search(tmp_path, digits):
    import time
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=f"teacher file {tmp_path} is a folder"):
        build_teacher(digits[:64], SPEC, tmp_path, steps=5, candidates=8, polish=1, workers=1,
                      progress=False)
    assert time.perf_counter() - t0 < 2      # not after searching a chunk of 64 targets


def test_a_dead_worker_is_a_clear_error_and_the_programs_found_are_kept(tmp_path):
    """A worker killed mid-build (OOM killer, kill -9): a DataError within seconds, the programs
    found so far saved for a later build (a multiprocessing.Pool could hang for ever here)."""
    import os
    import signal
    import subprocess
    import threading
    import time

    from synth.data import load_mnist
    out = tmp_path / "teacher.npz"

    def kill_a_worker():
        deadline = time.time() + 60
        while not out.exists() and time.time() < deadline:   # the first 64 programs are saved
            time.sleep(0.05)
        children = subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True,
                                  text=True).stdout.split()
        for pid in children:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    os.kill(int(pid), signal.SIGKILL)
                    return

    killer = threading.Thread(target=kill_a_worker, daemon=True)
    killer.start()
    images = load_mnist("eval", 64)[0][:1000]
    t0 = time.time()
    with pytest.raises(DataError, match="a teacher worker process died"):
        build_teacher(images, ActionSpec.for_domain("paint", {"grid": 32}), out, steps=3,
                      candidates=4, polish=0, workers=2, progress=False)
    assert time.time() - t0 < 60
    killer.join()
    done = np.load(out)["done"]
    assert 64 <= done.sum() < len(done)


def test_beam_teacher_is_the_policys_beam_and_one_expert_iteration_round_improves_it(tmp_path, digits):
    """Expert iteration on a tiny set: the beam of a (barely trained) policy finds better
    programs than the policy samples; distilling the policy from them lowers the MSE of its
    own samples on those targets."""
    from synth.beam import beam_search
    from synth.checkpoint import save_model
    from synth.nets import Policy, PolicyConfig
    from synth.synthesize import policy_candidates
    torch.manual_seed(0)
    config = PolicyConfig(channels=8, hidden=32, arch="lean", spatial=True)
    policy = Policy(SPEC, config).eval()
    path = tmp_path / "policy.pt"
    save_model(policy, path)
    out = tmp_path / "beam.npz"
    build_teacher(digits, SPEC, out, steps=4, candidates=1, polish=0, workers=1, progress=False,
                  search="beam", checkpoint=path, expand=8)
    teacher = load_teacher(out, SPEC, 3, search="beam")
    for i, digit in enumerate(digits):   # each row is the beam's best for that target and seed
        programs, errors = beam_search(policy, digit, expand=8, steps=4, seed=i)
        # (the beam scores against the uint8-quantised target, the teacher file against the target)
        assert teacher["mse"][i] == pytest.approx(float(errors[0]), abs=1e-4)
        assert [dict(zip(SPEC.order, map(int, r))) for r in teacher["actions"][i][:len(programs[0])]] == \
            [{s: a.get(s, 0) for s in SPEC.order} for a in programs[0].to_actions(SPEC)]
    with pytest.raises(DataError, match="was built for"):
        load_teacher(out, SPEC, 3)                  # a greedy teacher's file it is not

    def sampled_mse() -> float:
        return float(np.mean([policy_candidates(policy, d, 16, 7, 5, with_scores=True)[1].mean()
                              for d in digits]))

    before = sampled_mse()
    actions = torch.from_numpy(teacher["actions"].astype(np.int64))
    targets = torch.from_numpy(np.ascontiguousarray(digits.transpose(0, 3, 1, 2)))
    canvases, taken, target = make_teacher_batch(SPEC, BatchEnv(SPEC, 3, 5, "raster"), actions,
                                                 targets, torch.arange(3))
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    policy.train()
    for _ in range(60):
        loss, _ = pretrain_loss(policy, canvases, taken, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    policy.eval()
    assert sampled_mse() < before - 0.25 * (before - float(np.mean(teacher["mse"])))


def test_a_beam_teacher_needs_a_checkpoint(tmp_path, digits):
    with pytest.raises(DataError, match="needs the checkpoint of a trained policy"):
        build_teacher(digits, SPEC, tmp_path / "t.npz", steps=4, candidates=1, polish=0, workers=1,
                      search="beam", checkpoint=tmp_path / "missing.pt")
    with pytest.raises(DataError, match="search='mcts' is not one of"):
        build_teacher(digits, SPEC, tmp_path / "t.npz", steps=4, candidates=1, polish=0, workers=1,
                      search="mcts")


def _digit_folder(tmp_path, digits):
    from PIL import Image
    folder = tmp_path / "digits"
    folder.mkdir()
    for i, image in enumerate(digits):
        Image.fromarray((image * 255).round().astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def test_critic_real_teacher_is_the_teacher_programs_drawn_on_the_raster(tmp_path, digits):
    from synth.config import load_config
    from synth.pretrain import teacher_drawings
    from synth.rollout import to_uint8
    folder = _digit_folder(tmp_path, digits)
    config = load_config("configs/tiny.toml", [
        f"targets={folder}", "conditional=false", "reward=discriminator",
        "critic_real=teacher", "teacher_candidates=4", "teacher_polish=0", "teacher_workers=1",
        f"out_dir={tmp_path / 'run'}"])
    spec = config.spec()
    images, _ = load_set(str(folder), size=64)
    drawings = teacher_drawings(config, spec, images, batch=2)   # 3 programs: the second batch wraps round
    assert drawings.dtype == torch.uint8 and drawings.shape == (3, 3, 64, 64)
    teacher = load_teacher(config.teacher_path(), spec, 3)["actions"]   # built on first use
    for i, rows in enumerate(teacher):
        program = [dict(zip(spec.order, map(int, r))) for r in rows]
        assert torch.equal(drawings[i], to_uint8(render_actions(spec, [program])[0]))
    assert (drawings < 250).any(), "the teacher draws ink on these digits"


def test_an_unconditional_run_against_the_teachers_drawings_trains(tmp_path, digits):
    import json

    from spiral_dsl.cli import main as spiral
    out = tmp_path / "run"
    assert spiral(["train", "--config", "configs/tiny.toml", "--set", f"targets={_digit_folder(tmp_path, digits)}",
                   "--set", "conditional=false", "--set", "reward=discriminator", "--set", "critic_real=teacher",
                   "--set", "teacher_candidates=4", "--set", "teacher_polish=0", "--set", "teacher_workers=1",
                   "--set", "updates=2", "--set", f"out_dir={out}"]) == 0
    assert (out / "teacher.npz").is_file()
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert "d_real" in lines[-1] and len(lines) == 2
