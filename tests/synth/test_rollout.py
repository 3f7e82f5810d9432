"""The one rollout loop: sampling, teacher-forced replay, render replay and uint8 quantisation."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplRangeError, SplStateError
from synth.batch_env import BatchEnv
from synth.nets import Policy, PolicyConfig, categorical
from synth.rollout import (
    from_uint8,
    quantise,
    render_prefixes,
    sample_episode,
    teacher_force,
    teacher_forced_steps,
    to_uint8,
)

SPEC = ActionSpec.for_domain("paint")
B, LENGTH = 3, 5          # 4 actions per episode


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return Policy(SPEC, PolicyConfig(channels=8, hidden=32)).eval()


def _targets(seed: int = 1) -> torch.Tensor:
    return torch.rand(B, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def _episode(policy, seed: int = 0, **kw):
    env = BatchEnv(SPEC, B, LENGTH, "raster")
    torch.manual_seed(seed)
    return sample_episode(policy, env, _targets(), **kw), env


def test_episode_shapes_and_dtypes(policy):
    ep, env = _episode(policy)
    T = LENGTH - 1
    assert ep.steps == T and env.done
    assert ep.canvases.shape == (T + 1, B, 3, 64, 64) and ep.canvases.dtype == torch.uint8
    assert ep.targets.shape == (B, 3, 64, 64) and ep.targets.dtype == torch.uint8
    assert set(ep.actions) == set(SPEC.order)
    for slot, n in SPEC.sizes.items():
        a = ep.actions[slot]
        assert a.shape == (T, B) and a.dtype == torch.long and 0 <= int(a.min()) and int(a.max()) < n
    for x in (ep.log_prob, ep.entropy, ep.value):
        assert x.shape == (T, B) and x.dtype == torch.float32 and not x.requires_grad
    assert (ep.log_prob <= 0).all() and (ep.entropy >= 0).all()
    # the first canvas is the blank page, the last the env's final canvas
    assert torch.equal(ep.canvases[-1], to_uint8(env.canvas))
    assert torch.equal(ep.targets, to_uint8(_targets()))
    assert len(env.programs()) == B and all(len(p) == T for p in env.programs())


def test_episode_ends_at_episode_length(policy):
    for length in (2, 7):
        env = BatchEnv(SPEC, B, length, "raster")
        ep = sample_episode(policy, env, _targets())
        assert ep.steps == length - 1 and env.done
        with pytest.raises(SplStateError, match="episode is over"):
            env.step({s: a[0] for s, a in ep.actions.items()})


def test_same_seed_same_episode_other_seed_other_episode(policy):
    a, _ = _episode(policy, seed=4)
    b, _ = _episode(policy, seed=4)
    c, _ = _episode(policy, seed=5)
    assert torch.equal(a.canvases, b.canvases) and torch.equal(a.log_prob, b.log_prob)
    assert all(torch.equal(a.actions[s], b.actions[s]) for s in SPEC.order)
    assert not all(torch.equal(a.actions[s], c.actions[s]) for s in SPEC.order)


@pytest.mark.parametrize("arch", ["spiral", "lean"])
def test_sampling_without_scores_draws_the_same_episode(arch):
    """Inference's scores=False path (synthesize) skips log-probabilities, entropies and
    values, and draws exactly the actions the scored path draws for the seed."""
    torch.manual_seed(0)
    policy = Policy(SPEC, PolicyConfig(channels=8, hidden=32, arch=arch)).eval()
    scored, _ = _episode(policy, seed=3)
    bare, env = _episode(policy, seed=3, scores=False)
    assert all(torch.equal(scored.actions[s], bare.actions[s]) for s in SPEC.order)
    assert torch.equal(scored.canvases, bare.canvases)
    assert bare.log_prob is None and bare.entropy is None and bare.value is None
    with pytest.raises(ValueError, match="needs scores=True"):
        _episode(policy, keep_graph=True, scores=False)


def test_teacher_forced_log_probs_equal_those_recorded_while_sampling(policy):
    ep, _ = _episode(policy, seed=2)
    with torch.no_grad():
        forced = teacher_force(policy, ep.canvases, ep.targets, ep.actions)
    torch.testing.assert_close(forced.log_prob, ep.log_prob, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(forced.entropy, ep.entropy, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(forced.value, ep.value, rtol=1e-5, atol=1e-5)
    # uint8 and the equivalent float inputs replay alike
    with torch.no_grad():
        as_float = teacher_force(policy, from_uint8(ep.canvases), from_uint8(ep.targets), ep.actions)
    assert torch.equal(as_float.log_prob, forced.log_prob)


def test_keep_graph_records_differentiable_scores(policy):
    ep, _ = _episode(policy, keep_graph=True)
    assert ep.log_prob.requires_grad and ep.value.requires_grad and ep.entropy.requires_grad
    ep.log_prob.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    policy.zero_grad()


def test_teacher_forced_steps_feed_back_the_taken_actions(policy):
    ep, _ = _episode(policy, seed=3)
    steps = list(teacher_forced_steps(policy, ep.canvases, ep.targets, ep.actions))
    assert len(steps) == ep.steps
    for t, (taken, out) in enumerate(steps):
        assert all(torch.equal(taken[s], ep.actions[s][t]) for s in SPEC.order)
        assert all(torch.equal(out.actions[s], ep.actions[s][t]) for s in SPEC.order)


def test_render_prefixes_replays_the_sampled_canvases(policy):
    ep, _ = _episode(policy, seed=6)
    env = BatchEnv(SPEC, B, LENGTH, "raster")
    canvases = render_prefixes(env, ep.actions, from_uint8(ep.targets))
    assert canvases.shape == (ep.steps + 1, B, 3, 64, 64) and canvases.dtype == torch.float32
    assert torch.equal(to_uint8(canvases), ep.canvases)


def test_mismatched_batches_are_clear_errors(policy):
    env = BatchEnv(SPEC, B, LENGTH, "raster")
    with pytest.raises(SplRangeError, match=r"targets of shape \(2, 3, 64, 64\) do not fit a batch of 3"):
        sample_episode(policy, env, torch.rand(2, 3, 64, 64))
    ep, _ = _episode(policy)
    short = {s: a[:, :2] for s, a in ep.actions.items()}
    with pytest.raises(SplRangeError, match="actions for 2 episodes do not fit an env of batch 3"):
        render_prefixes(env, short)
    with pytest.raises(SplRangeError, match=r"canvases of shape \(5, 3, 3, 64, 64\) do not fit 4 steps of 2"):
        teacher_force(policy, ep.canvases, ep.targets[:2], short)
    with pytest.raises(SplRangeError, match=r"target of shape \(2, 3, 64, 64\) does not fit 3 episodes"):
        teacher_force(policy, ep.canvases, ep.targets[:2], ep.actions)
    ragged = dict(ep.actions, end=ep.actions["end"][:2])
    with pytest.raises(SplRangeError, match=r"action slots must all be \(T, B\)"):
        teacher_force(policy, ep.canvases, ep.targets, ragged)
    with pytest.raises(SplRangeError, match=r"actions lack the slots \['red'\]"):
        teacher_force(policy, ep.canvases, ep.targets, {s: a for s, a in ep.actions.items() if s != "red"})
    with pytest.raises(SplRangeError, match=r"episode_length=1 must be >= 2"):
        sample_episode(policy, BatchEnv(SPEC, B, 1, "raster"), _targets())


@settings(max_examples=60, deadline=None)
@given(arrays("uint8", st.integers(1, 64)),
       arrays("float32", st.integers(1, 64), elements=st.floats(-2, 3, width=32)))
def test_uint8_round_trip(codes, floats):
    u = torch.from_numpy(codes)
    assert torch.equal(to_uint8(from_uint8(u)), u)                 # uint8 → float → uint8 is exact
    x = torch.from_numpy(floats)
    q = quantise(x)
    assert torch.equal(quantise(q), q)                             # quantising twice changes nothing
    inside = x.clamp(0, 1)
    assert (q - inside).abs().max() <= 0.5 / 255 + 1e-7            # the nearest of the 256 levels
    assert torch.equal(to_uint8(x), to_uint8(inside))              # out of range clips


# ------------------------------------------------------------------ single-forward A2C

def _learner_and_worker(seed: int = 0, batch: int = 4, length: int = 6):
    from synth.roles import PolicyLearner, RolloutWorker
    config = PolicyConfig(channels=8, hidden=32)
    torch.manual_seed(seed)
    learner = PolicyLearner(SPEC, config, lr=1e-3)
    worker = RolloutWorker(SPEC, config, batch, length, None, seed=seed)
    worker.set_weights(learner.get_weights(), learner.version)
    return learner, worker


def test_sampling_draws_what_categorical_sample_draws(policy):
    args = (torch.rand(B, 3, 64, 64), torch.rand(B, 3, 64, 64), policy.no_action(B), policy.initial_state(B))
    torch.manual_seed(11)
    with torch.no_grad():
        out = policy(*args)
    torch.manual_seed(11)
    flag = categorical(out.logits["flag"])[0]
    assert torch.equal(out.actions["flag"], flag)


def test_single_forward_gradients_equal_the_re_evaluation_path():
    learner, worker = _learner_and_worker()
    torch.manual_seed(3)
    traj = worker.rollout(learner.policy)
    assert traj.scores is not None and traj.scores.log_prob.requires_grad
    assert learner.scores(traj)[0] is traj.scores.log_prob      # no second forward
    reward = torch.tensor([-1.0, 0.5, 2.0, 0.0])
    params = list(learner.policy.parameters())
    for value_only in (False, True):
        one, _ = learner.loss(traj, reward, value_only)
        g_one = torch.autograd.grad(one, params, allow_unused=True, retain_graph=True)
        two, _ = learner.loss(traj.without_scores(), reward, value_only)
        g_two = torch.autograd.grad(two, params, allow_unused=True)
        assert torch.allclose(one, two)
        pairs = [(a, b) for a, b in zip(g_one, g_two) if a is not None or b is not None]
        assert pairs and all(a is not None and b is not None and torch.allclose(a, b, rtol=1e-5, atol=1e-7)
                             for a, b in pairs)
    # the worker's own copy samples the same episode for the same seed
    torch.manual_seed(3)
    copy = worker.rollout()
    assert copy.scores is None and torch.equal(copy.canvases, traj.canvases)


def test_single_forward_update_equals_the_re_evaluation_update():
    reward = torch.tensor([1.0, -0.5, 0.25, 0.0])
    weights = []
    for shared in (True, False):
        learner, worker = _learner_and_worker(seed=5)
        for step in range(2):
            worker.set_weights(learner.get_weights(), learner.version)
            torch.manual_seed(20 + step)
            traj = worker.rollout(learner.policy if shared else None)
            learner.update(traj, reward)
        weights.append(learner.get_weights())
    assert all(torch.allclose(weights[0][k], weights[1][k], rtol=1e-5, atol=1e-7) for k in weights[0])


def test_a_trajectory_a_version_behind_is_re_evaluated():
    learner, worker = _learner_and_worker()
    traj = worker.rollout(learner.policy)
    learner.update(traj, torch.ones(4))
    # the policy changed in place since the rollout: its graph is stale, so it is scored anew
    logp = learner.scores(traj)[0]
    assert logp is not traj.scores.log_prob and logp.requires_grad
    learner.update(traj, torch.ones(4))


def test_embedded_training_is_the_same_with_and_without_the_second_forward(tmp_path):
    import json

    from synth.config import load_config
    from synth.train import LocalWorkers, load_targets, train
    runs = []
    for single in (True, False):
        config = load_config("configs/tiny.toml", [f"out_dir={tmp_path / str(single)}", "progress=false",
                                                   "updates=2", "checkpoint_every=100"])
        workers = LocalWorkers(config, config.spec(), load_targets(config), single_forward=single)
        train(config, workers=workers)
        learner_policy = Policy(config.spec(), config.policy)
        assert (workers.rollouts(learner_policy)[0].scores is not None) == single
        workers.close()
        lines = (tmp_path / str(single) / "metrics.jsonl").read_text().splitlines()
        runs.append([{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines])
    assert len(runs[0]) == 2
    for a, b in zip(*runs):
        assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7) for k in a)
