"""synth.batch_env: B episodes on a batch canvas, with the episode rules of synth.envs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from spiral_dsl import SplRangeError, SplStateError
from spiral_dsl.actions import ActionSpec
from synth.batch_env import BatchEnv

PAINT = ActionSpec.for_domain("paint")
SCENE = ActionSpec.for_domain("scene")
MOVE = {"flag": 0, "end": 5}
STROKE = {"flag": 1, "end": 600, "control": 300, "size": 2, "pressure": 9, "red": 0, "green": 0, "blue": 0}


def batch_of(spec, rows: list[dict]) -> dict:
    """One action per row, as the env takes them: slot → (B,) long."""
    return {s: torch.as_tensor(a) for s, a in spec.stack(rows).items()}


def test_an_episode_has_episode_length_steps_and_ends():
    env = BatchEnv(PAINT, 2, episode_length=4, interpreter="raster")
    obs = env.reset()
    assert obs["step"] == 0 and obs["target"] is None and obs["canvas"].shape == (2, 3, 64, 64)
    for t in range(1, 4):
        assert not env.done
        obs = env.step(batch_of(PAINT, [STROKE, MOVE]))
        assert obs["step"] == t
    assert env.done
    with pytest.raises(SplStateError, match="episode is over"):
        env.step(batch_of(PAINT, [STROKE, MOVE]))
    env.reset()                                   # a new episode starts afresh
    assert env.t == 0 and not env.done and env.blank_mask().all()
    assert torch.equal(env.new_sequences, torch.zeros(2))
    env.close()


def test_stepping_before_reset_or_after_close_is_the_state_error():
    env = BatchEnv(PAINT, 1, 3, "raster")
    with pytest.raises(SplStateError, match="reset"):
        env.step(batch_of(PAINT, [MOVE]))
    env.close()
    with pytest.raises(SplStateError, match="closed"):
        env.reset()


def test_episode_length_must_allow_one_action():
    with pytest.raises(SplRangeError, match="episode_length=1"):
        BatchEnv(PAINT, 1, 1, "raster")


def test_default_episode_lengths_are_spirals_and_one_step_per_object():
    assert BatchEnv(PAINT, 1, interpreter="raster").episode_length == 20
    env = BatchEnv(SCENE, 1)
    assert env.interpreter == "mujoco" and env.episode_length == SCENE.settings["objects"] + 1
    env.close()


def test_new_sequences_count_strokes_begun_with_the_pen_up():
    env = BatchEnv(PAINT, 3, 5, "raster")
    env.reset()
    plans = [[STROKE, STROKE, STROKE, STROKE],    # one sequence: the first stroke starts it
             [STROKE, MOVE, STROKE, STROKE],      # two
             [MOVE, MOVE, MOVE, MOVE]]            # none
    for t in range(4):
        env.step(batch_of(PAINT, [p[t] for p in plans]))
    assert env.new_sequences.tolist() == [1.0, 2.0, 0.0]
    assert env.blank_mask().tolist() == [False, False, True]


@pytest.mark.parametrize("interpreter", ["raster", "mypaint"])
def test_programs_replay_to_the_canvases(interpreter):
    env = BatchEnv(PAINT, 2, 4, interpreter)
    env.reset()
    plans = [[MOVE, STROKE, {**STROKE, "end": 100, "red": 19}], [STROKE, MOVE, STROKE]]
    for t in range(3):
        env.step(batch_of(PAINT, [p[t] for p in plans]))
    programs = env.programs()
    assert [PAINT.encode_program(p) for p in programs] == [
        [{s: a[s] for s in PAINT.used_slots(a["flag"])} for a in plan] for plan in plans]
    for b, program in enumerate(programs):
        image = program.render(backend=interpreter)
        np.testing.assert_allclose(env.canvas[b].permute(1, 2, 0).numpy(), image, atol=1e-5)
    env.close()


def test_the_raster_and_libmypaint_envs_draw_alike():
    """The same episode on both interpreters: ink in the same places (the raster's fidelity
    bound, tests/interpreters/test_conformance.py, holds per stroke here too)."""
    canvases = []
    for interpreter in ("raster", "mypaint"):
        env = BatchEnv(PAINT, 1, 3, interpreter)
        env.reset()
        env.step(batch_of(PAINT, [MOVE]))
        env.step(batch_of(PAINT, [STROKE]))
        canvases.append(env.canvas[0].numpy())
        env.close()
    ink = [(1 - c).max(0) > 0.1 for c in canvases]
    assert (ink[0] & ink[1]).sum() >= 0.8 * (ink[0] | ink[1]).sum() > 0


def test_scene_episodes_place_one_object_per_step():
    env = BatchEnv(SCENE, 2, 3)
    env.reset()
    blank = env.canvas.clone()
    place = {"shape": 1, "cell": 40, "size": 2, "red": 3, "green": 0, "blue": 0}
    env.step(batch_of(SCENE, [place, {**place, "cell": 200}]))
    assert not torch.equal(env.canvas[0], env.canvas[1])
    assert (env.canvas - blank).abs().flatten(1).amax(1).min() > 0.1
    assert [len(p) for p in env.programs()] == [1, 1]
    env.close()


def test_targets_and_device_travel_with_the_observation():
    targets = torch.rand(2, 3, 64, 64)
    env = BatchEnv(PAINT, 2, 3, "raster", device="cpu")
    obs = env.reset(targets)
    assert obs["target"] is targets and obs["canvas"].device == torch.device("cpu")
