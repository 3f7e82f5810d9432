"""The scene policy (synth/scene_net.py), its data (synth/scene_data.py), its training
(synth/scene_train.py) and its inversion (synth/scene_synth.py)."""
import json

import numpy as np
import pytest
import torch

from spiral_dsl.actions import ActionSpec
from spiral_dsl.cli import main as spiral
from spiral_dsl.errors import SplError
from synth import checkpoint as ckpt
from synth.config import PolicyConfig, load_config
from synth.mcmc import SCENE_SLOTS, SceneRenderer
from synth.scene_data import scene_examples
from synth.scene_net import ScenePolicy, project_cells
from synth.scene_synth import invert_scene, policy_proposals, policy_scenes

SPEC = ActionSpec.for_domain("scene", {"canvas": 64, "grid": 16, "objects": 5})
SMALL = PolicyConfig(arch="scene", channels=8, hidden=16, embed=4)


def _policy(seed=0):
    torch.manual_seed(seed)
    return ScenePolicy(SPEC, SMALL).eval()


def test_cell_projections_are_where_mujoco_renders_them():
    from spiral_dsl.interpreters.mujoco import project_cell
    points = project_cells(16, 64, 0.1)
    for k in (0, 15, 17, 128, 255):
        assert points[k] == pytest.approx(project_cell(dict(SPEC.settings), (k % 16, k // 16), 64, 0.1),
                                          abs=1e-6)


def test_heads_have_a_logit_per_cell_plus_stop_and_attributes_per_slot():
    policy = _policy()
    x = policy.inputs(torch.rand(3, 3, 64, 64), torch.rand(3, 3, 64, 64))
    fmap, logits = policy.cell_map(x)
    assert fmap.shape == (3, 8, 16, 16) and logits.shape == (3, 257)
    h = policy.object_features(x, fmap, torch.tensor([0, 17, 255]))
    chosen, att = policy.attribute_logits(h)
    assert {s: t.shape[1] for s, t in att.items()} == {"shape": 4, "size": 3, "red": 4,
                                                     "green": 4, "blue": 4}
    assert all(chosen[s].shape == (3,) for s in chosen)


def test_a_cell_read_from_the_target_moves_only_that_cells_logit():
    """The cell map is world-aligned: changing the pixels around one cell's projection
    changes that cell's logit (and its neighbours', through the 3×3 convolutions), never a
    far cell's."""
    policy = _policy()
    target = torch.full((1, 3, 64, 64), 0.5)
    canvas = target.clone()
    _, before = policy.cell_map(policy.inputs(target, canvas))
    x, y = (int(v) for v in project_cells(16, 64, 0.05)[5 * 16 + 5])
    target[0, :, y - 1:y + 1, x - 1:x + 1] = 1.0
    _, after = policy.cell_map(policy.inputs(target, canvas))
    changed = (after - before).abs()[0, :256].view(16, 16) > 1e-6
    assert changed[5, 5]
    assert not changed[12:, :].any() and not changed[:, 12:].any()


def test_used_cells_are_never_chosen_and_stop_ends_a_scene():
    policy = _policy()
    used = torch.ones(4, 256, dtype=torch.bool)
    used[:, 37] = False
    with torch.no_grad():
        policy.stop_logit[-1].bias.fill_(-1e4)     # never stop: the one free cell is chosen
    step = policy.act(torch.rand(4, 3, 64, 64), torch.rand(4, 3, 64, 64), used, greedy=False,
                      generator=torch.Generator().manual_seed(0))
    assert (step.actions["cell"] == 37).all() and not step.stop.any()
    assert torch.isfinite(step.log_prob).all()
    with torch.no_grad():
        policy.stop_logit[-1].bias.fill_(1e4)      # always stop
    step = policy.act(torch.rand(4, 3, 64, 64), torch.rand(4, 3, 64, 64), used)
    assert step.stop.all()


def test_sampling_is_deterministic_for_a_generator_seed():
    policy = _policy()
    t, c = torch.rand(6, 3, 64, 64), torch.rand(6, 3, 64, 64)
    used = torch.zeros(6, 256, dtype=torch.bool)
    a = policy.act(t, c, used, greedy=False, generator=torch.Generator().manual_seed(3))
    b = policy.act(t, c, used, greedy=False, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a.actions[s], b.actions[s]) for s in a.actions)
    assert torch.equal(a.stop, b.stop) and torch.equal(a.log_prob, b.log_prob)


def test_examples_hold_the_objects_not_yet_on_the_canvas():
    data = scene_examples(SPEC, 30, seed=4)
    again = scene_examples(SPEC, 30, seed=4)
    assert np.array_equal(data.canvases, again.canvases) and np.array_equal(data.remaining, again.remaining)
    from synth.data import random_scenes
    scenes = random_scenes(SPEC, 30, 4)
    render = SceneRenderer(SPEC)
    assert np.array_equal(data.targets[3], np.rint(render(scenes[3]) * 255).astype(np.uint8))
    for e in range(len(data)):
        scene = scenes[data.scene_of[e]]
        left = [dict(zip(SCENE_SLOTS, map(int, row))) for row in data.remaining[e] if row[0] >= 0]
        assert all(a in scene for a in left)
        placed = [a for a in scene if a not in left]
        assert np.array_equal(data.canvases[e], np.rint(render(placed) * 255).astype(np.uint8))
    with pytest.raises(SplError, match="scenes=0 is out of range"):
        scene_examples(SPEC, 0, seed=0)


def test_the_set_loss_teaches_any_remaining_cell_or_stop():
    policy = _policy()
    data = scene_examples(SPEC, 24, seed=1)
    index = np.arange(len(data))
    opt = torch.optim.Adam(policy.parameters(), 3e-3)
    first = None
    for _ in range(60):
        loss, metrics = policy.loss(*data.batch(index))
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first       # it fits a small fixed batch
    # a finished scene (nothing remaining) is a stop example: the loss is -log p(stop)
    target, canvas, remaining = data.batch(np.array([0]))
    remaining[:] = -1
    with torch.no_grad():
        loss, _ = policy.loss(target, canvas, remaining)
        _, logits = policy.cell_map(policy.inputs(target, canvas))
    assert loss.item() == pytest.approx(-torch.log_softmax(logits, 1)[0, 256].item(), rel=1e-5)


def test_model_files_round_trip_and_name_the_scene_arch(tmp_path):
    policy = _policy()
    ckpt.save_model(policy, tmp_path / "m.pt", run="t")
    loaded, info = ckpt.load_model(tmp_path / "m.pt")
    assert isinstance(loaded, ScenePolicy) and info["run"] == "t"
    x = torch.rand(2, 9, 64, 64)
    assert torch.equal(policy.cell_map(x)[1], loaded.cell_map(x)[1])
    record = ckpt.load(tmp_path / "m.pt")
    record["domain"] = "paint"
    record["settings"] = json.dumps({"canvas": 64, "grid": 32, "brush": "classic/dry_brush"})
    record["order"] = list(ActionSpec.for_domain("paint").order)
    with pytest.raises(ckpt.CheckpointError, match="arch 'scene' draws scenes"):
        ckpt.validate_record(record)


def test_arch_scene_is_for_the_scene_domain_only():
    with pytest.raises(SplError, match="arch='scene' draws only scenes"):
        load_config("configs/tiny.toml", ["arch=scene"])


def test_policy_scenes_are_deterministic_distinct_and_counted():
    policy = _policy()
    render = SceneRenderer(SPEC)
    target = render([{"shape": 0, "cell": 100, "size": 2, "red": 3, "green": 0, "blue": 0}])
    scenes, images = policy_scenes(policy, target, samples=3, seed=5, renderer=render)
    again, _ = policy_scenes(policy, target, samples=3, seed=5)
    assert scenes == again and len(images) == 3
    for scene, image in zip(scenes, images):
        assert len(scene) <= 5 and len({a["cell"] for a in scene}) == len(scene)
        assert np.array_equal(image, SceneRenderer(SPEC)(scene))
    assert render.calls == 1 + 1 + sum(len(s) for s in scenes)   # target, blank, one per object
    proposals = policy_proposals(policy, target, images[0], scenes[0], k=3)
    assert len(proposals) == 3 and not {p["cell"] for p in proposals} & {a["cell"] for a in scenes[0]}


def test_tiny_scene_training_writes_a_loadable_model_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--config", "configs/scenes.toml", "--set", f"out_dir={out}",
            "--set", "channels=8", "--set", "hidden=16", "--set", "embed=4",
            "--set", "pretrain_scenes=40", "--set", "pretrain_batch=8", "--set", "log_every=2",
            "--set", "checkpoint_every=2"]
    assert spiral([*args, "--set", "pretrain_updates=4"]) == 0
    policy, info = ckpt.load_model(out / "model.pt")
    assert isinstance(policy, ScenePolicy) and info["update"] == 4
    assert spiral([*args, "--resume", "--set", "pretrain_updates=6"]) == 0
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["update"] for x in lines] == [2, 4, 6]
    assert {"valid_cell_acc", "valid_object_acc", "valid_shape_acc"} <= set(lines[-1])
    assert ckpt.load(out / "scene_checkpoint.pt")["update"] == 6
    found = invert_scene(policy, SceneRenderer(SPEC)([]), samples=2, seed=0, refine=False)
    assert found.renderer_calls >= 1 and found.mse >= 0


def test_score_gives_the_log_probability_act_sampled():
    policy = _policy(1)
    t, c = torch.rand(5, 3, 64, 64), torch.rand(5, 3, 64, 64)
    used = torch.zeros(5, 256, dtype=torch.bool)
    used[:, :40] = True
    step = policy.act(t, c, used, greedy=False, generator=torch.Generator().manual_seed(2))
    choice = torch.where(step.stop, torch.full_like(step.actions["cell"], 256), step.actions["cell"])
    log_prob, entropy = policy.score(t, c, used, choice, {s: step.actions[s] for s in
                                                         ("shape", "size", "red", "green", "blue")})
    assert torch.allclose(log_prob, step.log_prob, atol=1e-5)
    assert (entropy > 0).all() and log_prob.requires_grad


def test_rl_stage_runs_after_the_supervised_stage_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--config", "configs/scenes.toml", "--set", f"out_dir={out}",
            "--set", "channels=8", "--set", "hidden=16", "--set", "embed=4",
            "--set", "pretrain_scenes=20", "--set", "pretrain_batch=8", "--set", "log_every=1",
            "--set", "checkpoint_every=1", "--set", "pretrain_updates=2", "--set", "batch=4"]
    assert spiral([*args, "--set", "updates=2"]) == 0
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(x["update"], x.get("stage")) for x in lines] == [(1, None), (2, None), (3, "rl"), (4, "rl")]
    assert {"greedy_mse", "sampled_mse", "advantage", "entropy"} <= set(lines[-1])
    assert spiral([*args, "--resume", "--set", "updates=3"]) == 0
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["update"] for x in lines] == [1, 2, 3, 4, 5]
    state = ckpt.load(out / "scene_checkpoint.pt")
    assert (state["update"], state["rl_update"]) == (2, 3)


def test_ray_and_pbt_are_refused_for_the_scene_arch_before_any_work(tmp_path, capsys):
    for flag in ("--ray", "--pbt"):
        assert spiral(["train", "--config", "configs/scenes.toml", flag,
                       "--set", f"out_dir={tmp_path}"]) != 0
        assert f"{flag} runs the A2C stage" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
