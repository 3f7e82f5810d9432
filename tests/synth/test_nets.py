"""Networks for both domains: shapes, masks, and that one update lowers each loss."""
import pytest
import torch

from spiral_dsl.actions import ActionSpec
from synth.nets import Discriminator, Policy, PolicyConfig
from synth.roles import DiscriminatorLearner

torch.manual_seed(0)


@pytest.mark.parametrize("arch", ["spiral", "lean"])
@pytest.mark.parametrize("spatial", [False, True])
@pytest.mark.parametrize("domain", ["paint", "scene"])
def test_policy_shapes_follow_the_action_spec(domain, spatial, arch):
    spec = ActionSpec.for_domain(domain)
    policy = Policy(spec, PolicyConfig(channels=8, hidden=32, spatial=spatial, arch=arch))
    B = 3
    canvas, target = torch.rand(B, 3, 64, 64), torch.rand(B, 3, 64, 64)
    out = policy(canvas, target, policy.no_action(B), policy.initial_state(B))
    assert set(out.actions) == set(spec.order)
    for slot, n in spec.sizes.items():
        assert out.logits[slot].shape == (B, n)
        assert out.actions[slot].shape == (B,) and int(out.actions[slot].max()) < n
    assert out.log_prob.shape == out.entropy.shape == out.value.shape == (B,)
    assert out.state[0].shape == (B, 32)


@pytest.mark.parametrize("arch", ["spiral", "lean"])
def test_masked_slots_do_not_count_for_moves(arch):
    spec = ActionSpec.for_domain("paint")
    policy = Policy(spec, PolicyConfig(channels=8, hidden=32, spatial=True, arch=arch))
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


def test_lean_location_heads_are_computed_at_the_map_resolution():
    """The lean network's spatial heads are pixel-shuffle heads (no transposed convolution
    anywhere) and each grid point has its own logit: moving one cell's sub-pixel channel
    changes exactly the r×r grid points of that cell."""
    from synth.lean import ShuffleLocationHead
    spec = ActionSpec.for_domain("paint")                      # 64² canvas, 32² grid: S = 8, r = 4
    policy = Policy(spec, PolicyConfig(channels=8, hidden=32, spatial=True, arch="lean"))
    assert isinstance(policy.heads["end"], ShuffleLocationHead)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in policy.modules())
    head = policy.heads["end"]
    z, fmap = torch.rand(1, 32), torch.rand(1, 16, 8, 8)
    before = head(z, fmap).view(32, 32)
    with torch.no_grad():
        head.out.bias[5] += 1.0                                # sub-pixel (1, 1) of every cell
    diff = (head(z, fmap).view(32, 32) - before).abs() > 1e-6
    expected = torch.zeros(32, 32, dtype=torch.bool)
    expected[1::4, 1::4] = True
    assert torch.equal(diff, expected)


@pytest.mark.parametrize("arch", ["spiral", "lean"])
def test_sampling_is_deterministic_for_a_seed(arch):
    spec = ActionSpec.for_domain("paint")
    torch.manual_seed(4)
    policy = Policy(spec, PolicyConfig(channels=8, hidden=32, spatial=True, arch=arch))
    B = 5
    g = torch.Generator().manual_seed(2)
    args = (torch.rand(B, 3, 64, 64, generator=g), torch.rand(B, 3, 64, 64, generator=g),
            policy.no_action(B), policy.initial_state(B))
    torch.manual_seed(9)
    a = policy(*args)
    torch.manual_seed(9)
    b = policy(*args)
    torch.manual_seed(10)
    c = policy(*args)
    for s in spec.order:
        assert torch.equal(a.actions[s], b.actions[s])
    assert torch.equal(a.log_prob, b.log_prob)
    assert any(not torch.equal(a.actions[s], c.actions[s]) for s in ("end", "control"))


def test_categorical_scores_exactly_as_torch_distributions():
    """nets.categorical's log-probabilities and entropies are torch.distributions.Categorical's,
    to the bit; greedy is the argmax."""
    from synth.nets import categorical
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 1024, generator=g) * 3
    logits[0, :1000] = -1e30                                   # nearly-zero probabilities: the clamp
    dist = torch.distributions.Categorical(logits=logits)
    torch.manual_seed(1)
    a, logp, ent = categorical(logits)
    assert torch.equal(logp, dist.log_prob(a)) and torch.equal(ent, dist.entropy())
    taken = torch.randint(0, 1024, (64,), generator=g)
    _, logp, _ = categorical(logits, taken)
    assert torch.equal(logp, dist.log_prob(taken))
    assert torch.equal(categorical(logits, greedy=True)[0], logits.argmax(-1))


def test_categorical_draws_follow_the_distribution_and_skip_impossible_actions():
    """The inverse-CDF draw: empirical frequencies match the probabilities (a chi-square bound),
    an index of probability 0 is never drawn (masked logits at the start, middle and end), and
    the same seed draws the same actions."""
    from synth.nets import categorical
    probs = torch.tensor([0.0, 0.1, 0.0, 0.2, 0.3, 0.0, 0.4, 0.0])
    logits = probs.log().expand(200_000, -1)                   # log 0 = -inf: impossible
    torch.manual_seed(3)
    a = categorical(logits)[0]
    counts = torch.bincount(a, minlength=8).double()
    assert counts[probs == 0].sum() == 0
    expected = probs.double() * len(a)
    chi2 = (((counts - expected) ** 2)[probs > 0] / expected[probs > 0]).sum()
    assert chi2 < 16.3                                          # 3 degrees of freedom, p = 0.001
    torch.manual_seed(3)
    assert torch.equal(categorical(logits)[0], a)


# Greedy outputs of the shipped SPIRAL-network checkpoint for seeded inputs, recorded with the
# network as it was before the ``arch`` field existed (commit 05143fa): it must load as "spiral"
# and act alike. (The scene checkpoint is the scene policy since issue 14: test_scene_net.py.)
SHIPPED = {
    "mnist": ({"flag": [0, 0, 0, 0], "end": [29, 20, 28, 29], "control": [76, 104, 100, 76],
               "size": [1, 0, 2, 1], "pressure": [8, 7, 4, 8], "red": [19, 3, 19, 19],
               "green": [19, 3, 19, 19], "blue": [19, 3, 19, 19]},
              [-4.974386215209961, -5.532037734985352, -4.90999174118042, -4.8386406898498535],
              [-0.12608295679092407, -0.11501313000917435, -0.12086056172847748, -0.13014091551303864]),
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoints_load_as_spiral_and_act_as_before(name):
    from synth import checkpoint as ckpt
    policy, _ = ckpt.load_model(f"synth/checkpoints/{name}.pt")
    assert policy.config.arch == "spiral"
    size = policy.spec.settings["canvas"]
    g = torch.Generator().manual_seed(3)
    B = 4
    canvas, target = torch.rand(B, 3, size, size, generator=g), torch.rand(B, 3, size, size, generator=g)
    with torch.no_grad():
        out = policy(canvas, target, policy.no_action(B), policy.initial_state(B), greedy=True)
    actions, logp, value = SHIPPED[name]
    assert {s: a.tolist() for s, a in out.actions.items()} == actions
    torch.testing.assert_close(out.log_prob, torch.tensor(logp), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.value, torch.tensor(value), atol=1e-5, rtol=0)


def test_a_lean_policy_round_trips_through_a_model_file(tmp_path):
    from synth import checkpoint as ckpt
    spec = ActionSpec.for_domain("paint")
    policy = Policy(spec, PolicyConfig(channels=8, hidden=32, spatial=True, arch="lean"))
    ckpt.save_model(policy, tmp_path / "lean.pt", run="t", update=0)
    loaded, _ = ckpt.load_model(tmp_path / "lean.pt")
    assert loaded.config.arch == "lean"
    for k, v in policy.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


@pytest.mark.parametrize("arch", ["spiral", "lean"])
def test_target_features_computed_once_give_the_same_step(arch):
    """A rollout encodes its target once (Policy.target_features) and passes it to every step:
    the same outputs as the six-channel first convolution on cat([canvas, target])."""
    spec = ActionSpec.for_domain("paint")
    torch.manual_seed(0)
    policy = Policy(spec, PolicyConfig(channels=8, hidden=32, arch=arch)).eval()
    canvas, target = torch.rand(3, 3, 64, 64), torch.rand(3, 3, 64, 64)
    args = (canvas, target, policy.no_action(3), policy.initial_state(3))
    with torch.no_grad():
        a = policy(*args, greedy=True)
        b = policy(*args, greedy=True, target_features=policy.target_features(target))
        first = policy.encoder[0]
        reference = first(torch.cat([canvas, target], 1) * 2 - 1)
        ours = policy._first_conv(canvas, first.weight[:, :3], first.bias) + policy.target_features(target)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
    for s in spec.order:
        assert torch.equal(a.actions[s], b.actions[s])
    torch.testing.assert_close(a.log_prob, b.log_prob)
    unconditional = Policy(spec, PolicyConfig(channels=8, hidden=32, arch=arch, conditional=False))
    assert unconditional.target_features(target) is None


@pytest.mark.parametrize("arch", ["spiral", "lean"])
def test_the_blind_agent_does_not_see_the_canvas(arch):
    """blind=true (SPIRAL's blind agent): the same target, previous action and state give the
    same outputs whatever the canvas; the full agent's outputs depend on it."""
    spec = ActionSpec.for_domain("paint")
    target = torch.rand(2, 3, 64, 64)
    rest = lambda policy: (target, policy.no_action(2), policy.initial_state(2))  # noqa: E731
    for blind in (True, False):
        torch.manual_seed(0)
        policy = Policy(spec, PolicyConfig(channels=8, hidden=32, arch=arch, blind=blind)).eval()
        with torch.no_grad():
            a = policy(torch.ones(2, 3, 64, 64), *rest(policy), greedy=True)
            b = policy(torch.rand(2, 3, 64, 64), *rest(policy), greedy=True)
        same = all(torch.equal(a.logits[s], b.logits[s]) for s in spec.order) and torch.equal(a.value, b.value)
        assert same == blind


def test_a_blind_agent_needs_a_target():
    from synth.config import load_config
    from synth.errors import ConfigError
    load_config("configs/mnist_blind.toml")
    with pytest.raises(ConfigError, match="blind=true .* needs conditional=true"):
        load_config("configs/mnist_blind.toml", ["conditional=false", "reward=discriminator"])


@pytest.mark.parametrize("arch", ["spiral", "lean"])
def test_bfloat16_arithmetic_keeps_float32_outputs_and_stays_close_to_float32(arch):
    """precision='bfloat16' runs the convolutions and linear layers under autocast; what
    leaves the network (logits, log-probabilities, entropies, values, the LSTM state) is
    float32, the same function within bfloat16's rounding, and its gradients are finite."""
    spec = ActionSpec.for_domain("paint")
    torch.manual_seed(0)
    exact = Policy(spec, PolicyConfig(channels=8, hidden=32, spatial=True, arch=arch))
    half = Policy(spec, PolicyConfig(channels=8, hidden=32, spatial=True, arch=arch,
                                     precision="bfloat16"))
    half.load_state_dict(exact.state_dict())
    g = torch.Generator().manual_seed(2)
    canvas, target = torch.rand(4, 3, 64, 64, generator=g), torch.rand(4, 3, 64, 64, generator=g)
    taken = {s: torch.randint(0, n, (4,), generator=g) for s, n in spec.sizes.items()}
    outs = [p(canvas, target, p.no_action(4), p.initial_state(4), actions=taken) for p in (exact, half)]
    for field in ("log_prob", "entropy", "value"):
        assert getattr(outs[1], field).dtype == torch.float32
        torch.testing.assert_close(getattr(outs[1], field), getattr(outs[0], field), rtol=0.05, atol=0.05)
    assert outs[1].state[0].dtype == torch.float32
    assert all(logits.dtype == torch.float32 for logits in outs[1].logits.values())
    (outs[1].log_prob.sum() + outs[1].value.sum()).backward()
    grads = [p.grad for p in half.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    with torch.no_grad():   # float32 weights: the arithmetic, not the parameters, changes
        assert all(p.dtype == torch.float32 for p in half.parameters())
        sampled = half(canvas, target, half.no_action(4), half.initial_state(4))
    for s, n in spec.sizes.items():
        assert sampled.actions[s].min() >= 0 and sampled.actions[s].max() < n


def test_a_bfloat16_policy_round_trips_its_precision_through_a_model_file(tmp_path):
    from synth import checkpoint as ckpt
    spec = ActionSpec.for_domain("paint")
    policy = Policy(spec, PolicyConfig(channels=8, hidden=32, arch="lean", precision="bfloat16"))
    ckpt.save_model(policy, tmp_path / "half.pt", run="t", update=0)
    loaded, _ = ckpt.load_model(tmp_path / "half.pt")
    assert loaded.config.precision == "bfloat16"
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        a = policy(x, x, policy.no_action(2), policy.initial_state(2), greedy=True)
        b = loaded(x, x, loaded.no_action(2), loaded.initial_state(2), greedy=True)
    torch.testing.assert_close(a.log_prob, b.log_prob, rtol=0, atol=0)
