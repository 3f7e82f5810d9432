"""Networks for both domains: shapes, masks, and that one update lowers each loss."""
import pytest
import torch

from spiral_dsl.actions import ActionSpec
from synth.nets import Discriminator, Policy, PolicyConfig
from synth.roles import DiscriminatorLearner

torch.manual_seed(0)


@pytest.mark.parametrize("domain", ["paint", "scene"])
def test_policy_shapes_follow_the_action_spec(domain):
    spec = ActionSpec.for_domain(domain)
    policy = Policy(spec, PolicyConfig(channels=8, hidden=32))
    B = 3
    canvas, target = torch.rand(B, 3, 64, 64), torch.rand(B, 3, 64, 64)
    out = policy(canvas, target, policy.no_action(B), policy.initial_state(B))
    assert set(out.actions) == set(spec.order)
    for slot, n in spec.sizes.items():
        assert out.logits[slot].shape == (B, n)
        assert out.actions[slot].shape == (B,) and int(out.actions[slot].max()) < n
    assert out.log_prob.shape == out.entropy.shape == out.value.shape == (B,)
    assert out.state[0].shape == (B, 32)


def test_masked_slots_do_not_count_for_moves():
    spec = ActionSpec.for_domain("paint")
    policy = Policy(spec, PolicyConfig(channels=8, hidden=32))
    B = 2
    args = (torch.rand(B, 3, 64, 64), torch.rand(B, 3, 64, 64), policy.no_action(B), policy.initial_state(B))
    moves = {s: torch.zeros(B, dtype=torch.long) for s in spec.order}
    a = policy(*args, actions=moves)
    changed = dict(moves, control=torch.full((B,), 500), red=torch.full((B,), 7))
    b = policy(*args, actions=changed)
    torch.testing.assert_close(a.log_prob, b.log_prob)   # a move ignores control and colour
    strokes = dict(moves, flag=torch.ones(B, dtype=torch.long))
    c = policy(*args, actions=strokes)
    d = policy(*args, actions=dict(strokes, control=torch.full((B,), 500)))
    assert not torch.allclose(c.log_prob, d.log_prob)


def test_custom_slot_order_changes_conditioning():
    spec = ActionSpec.for_domain("paint", order=[("flag", "end"), ("end", "control"), ("flag", "red")])
    policy = Policy(spec, PolicyConfig(channels=8, hidden=32))
    assert policy.ancestors["red"] == ["flag"]
    assert policy.ancestors["control"] == ["flag", "end"]


def test_a2c_update_lowers_its_loss_on_a_fixed_batch():
    """On a fixed batch rewarded +1: the value loss falls and the taken actions become likelier
    (the policy-gradient surrogate -logp * advantage falls)."""
    from synth.roles import PolicyLearner, Trajectory
    spec = ActionSpec.for_domain("paint")
    learner = PolicyLearner(spec, PolicyConfig(channels=8, hidden=32), lr=1e-3, entropy_coef=0.0)
    T, B = 3, 4
    g = torch.Generator().manual_seed(1)
    canvases = torch.randint(0, 256, (T + 1, B, 3, 64, 64), generator=g, dtype=torch.uint8)
    actions = {s: torch.randint(0, n, (T, B), generator=g) for s, n in spec.sizes.items()}
    traj = Trajectory(canvases, canvases[-1], actions, torch.zeros(B), torch.zeros(B, dtype=torch.bool), 0)
    reward = torch.ones(B)
    with torch.no_grad():
        logp_before = learner.evaluate(traj)[0].mean()
    first = learner.update(traj, reward)
    for _ in range(5):
        last = learner.update(traj, reward)
    with torch.no_grad():
        logp_after = learner.evaluate(traj)[0].mean()
    assert last["value_loss"] < first["value_loss"]
    assert logp_after > logp_before


def test_wgan_gp_update_lowers_the_critic_loss():
    critic = DiscriminatorLearner(64, conditional=True, lr=1e-3, channels=8)
    g = torch.Generator().manual_seed(2)
    real = torch.rand(8, 3, 64, 64, generator=g)
    fake = torch.rand(8, 3, 64, 64, generator=g) * 0.2
    first = critic.update(real, fake, real)["d_loss"]
    for _ in range(10):
        last = critic.update(real, fake, real)["d_loss"]
    assert last < first


def test_discriminator_unconditional_shape():
    d = Discriminator(64, conditional=False, channels=8)
    assert d(torch.rand(5, 3, 64, 64)).shape == (5,)
