"""The critic-reward stabilisers (synth/critic.py) and their wiring into training: reward
normalisation, temporal credit, the critic losses and penalties, spectral normalisation, the
EMA critic, and a tiny adversarial run with every switch on that checkpoints and resumes."""
import dataclasses
import json
import math

import pytest
import torch

from spiral_dsl.actions import ActionSpec
from spiral_dsl.cli import main as spiral
from synth import checkpoint as ckpt
from synth.config import RULES, load_config
from synth.critic import (
    CRITIC_LOSSES,
    NORM_MODES,
    RunningNorm,
    critic_loss,
    critic_value,
    discounted_returns,
    ema_update,
    gradient_penalty,
    temporal_credit,
)
from synth.errors import ConfigError
from synth.nets import Discriminator, PolicyConfig
from synth.roles import DiscriminatorLearner, PolicyLearner, Trajectory
from synth.train import final_reward, rewards

TINY = ["--config", "configs/tiny.toml", "--set", "threads=1", "--set", "progress=false"]


# ---- reward normalisation -------------------------------------------------------------------

def test_running_norm_gives_the_exact_moments_of_everything_seen():
    norm = RunningNorm("running")
    norm.update(torch.tensor([1.0, 2.0, 3.0]))
    norm.update(torch.tensor([4.0, 5.0]))
    assert norm.count == 5 and norm.mean == pytest.approx(3.0) and norm.var == pytest.approx(2.0)
    out = norm.normalise(torch.tensor([3.0, 5.0]))
    assert out[0].item() == pytest.approx(0.0)
    assert out[1].item() == pytest.approx(2.0 / (math.sqrt(2.0) + norm.eps))


def test_ema_norm_follows_recent_batches_with_its_decay():
    norm = RunningNorm("ema", decay=0.5)
    norm.update(torch.tensor([0.0, 2.0]))              # the first batch sets mean 1, variance 1
    assert (norm.mean, norm.var) == pytest.approx((1.0, 1.0))
    norm.update(torch.tensor([4.0, 4.0]))              # mean 4, variance 0
    assert norm.mean == pytest.approx(2.5)
    # the mixture's variance about the new mean: 0.5·(1 + 1.5²) + 0.5·(0 + 1.5²)
    assert norm.var == pytest.approx(2.75)


def test_norm_state_round_trips_and_continues_identically():
    a = RunningNorm("ema", decay=0.9)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(7, generator=g) * 3 + 5 for _ in range(4)]
    for x in batches[:2]:
        a.update(x)
    b = RunningNorm("ema", decay=0.9)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))   # plain data, as a checkpoint holds
    for x in batches[2:]:
        a.update(x)
        b.update(x)
    assert a.state_dict() == b.state_dict()
    assert torch.equal(a.normalise(batches[0]), b.normalise(batches[0]))
    # statistics of another mode are not taken over
    c = RunningNorm("running")
    c.load_state_dict(a.state_dict())
    assert c.count == 0


def test_norm_none_is_the_identity_and_bad_settings_are_config_errors():
    x = torch.tensor([3.0, -1.0])
    norm = RunningNorm("none")
    norm.update(x)
    assert norm.normalise(x) is x and norm.count == 0
    with pytest.raises(ConfigError, match="reward_norm='median'"):
        RunningNorm("median")
    with pytest.raises(ConfigError, match="reward_norm_decay=1.0"):
        RunningNorm("ema", decay=1.0)


# ---- temporal credit ------------------------------------------------------------------------

def test_temporal_credit_of_a_hand_made_episode():
    values = torch.tensor([[0.0, 0.0], [1.0, -1.0], [3.0, -1.0], [2.0, 0.0]])   # (T+1=4, B=2)
    r = temporal_credit(values)
    assert torch.equal(r, torch.tensor([[1.0, -1.0], [2.0, 0.0], [-1.0, 1.0]]))
    assert torch.equal(r.sum(0), values[-1] - values[0])
    with pytest.raises(ValueError, match="T >= 1"):
        temporal_credit(values[:1])


def test_discounted_returns_of_known_rewards():
    r = torch.tensor([[1.0], [0.0], [2.0]])
    assert torch.allclose(discounted_returns(r, 0.5), torch.tensor([[1.5], [1.0], [2.0]]))


def _trajectory(T=3, B=4, size=64, seed=1):
    spec = ActionSpec.for_domain("paint")
    g = torch.Generator().manual_seed(seed)
    canvases = torch.randint(0, 256, (T + 1, B, 3, size, size), generator=g, dtype=torch.uint8)
    canvases[0] = 255                                                  # a blank first canvas
    actions = {s: torch.randint(0, n, (T, B), generator=g) for s, n in spec.sizes.items()}
    return spec, Trajectory(canvases, canvases[-1].clone(), actions, torch.tensor([1.0, 2.0, 0.0, 1.0]),
                            torch.tensor([False, False, True, False]), 0)


def test_temporal_rewards_telescope_to_the_final_minus_the_blank_value():
    torch.manual_seed(0)
    _, traj = _trajectory()
    critic = DiscriminatorLearner(64, conditional=False, channels=8)
    cfg = load_config(overrides=["reward=discriminator", "temporal_credit=true", "reward_scale=2",
                                 "stroke_penalty=-0.1", "blank_penalty=-1"]).rl
    reward, metrics = rewards(cfg, traj, critic)
    assert reward.shape == (3, 4)
    final = critic.value(traj.final, None)
    blank = critic.value(traj.canvases[0].float() / 255, None)
    penalties = -0.1 * traj.new_sequences - 1.0 * traj.blank.float()
    assert torch.allclose(reward.sum(0), 2 * (final - blank) + penalties, atol=1e-5)
    step1 = critic.value(traj.canvases[1].float() / 255, None)
    assert torch.allclose(reward[0], 2 * (step1 - blank), atol=1e-5)
    assert metrics["reward_raw_mean"] == pytest.approx(final.mean().item(), abs=1e-6)
    # without temporal credit: one final reward (B,), the same total
    flat = final_reward(dataclasses.replace(cfg, temporal_credit=False), traj, critic)
    assert torch.allclose(flat, 2 * final + penalties, atol=1e-5)


def test_normalised_rewards_use_the_statistics_including_this_batch():
    torch.manual_seed(0)
    _, traj = _trajectory()
    critic = DiscriminatorLearner(64, conditional=False, channels=8)
    cfg = load_config(overrides=["reward=discriminator", "reward_norm=running", "reward_scale=1"]).rl
    norm = RunningNorm("running")
    reward, metrics = rewards(cfg, traj, critic, norm)
    raw = critic.value(traj.final, None)
    assert norm.count == 4 and norm.mean == pytest.approx(raw.mean().item(), abs=1e-6)
    assert metrics["reward_norm_mean"] == pytest.approx(0.0, abs=1e-5)     # standardised batch
    assert metrics["norm_std"] == pytest.approx(raw.std(unbiased=False).item(), rel=1e-4)
    assert torch.allclose(reward, (raw - raw.mean()) / (raw.std(unbiased=False) + norm.eps), atol=1e-4)


def test_per_step_rewards_nonzero_only_at_the_end_equal_the_final_reward_path():
    spec, traj = _trajectory(T=3, B=4)
    torch.manual_seed(0)
    learner = PolicyLearner(spec, PolicyConfig(channels=8, hidden=32), discount=0.9)
    final = torch.tensor([1.0, -2.0, 0.5, 3.0])
    per_step = torch.zeros(3, 4)
    per_step[-1] = final
    a, _ = learner.loss(traj, final)
    b, _ = learner.loss(traj, per_step)
    assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="per-step rewards"):
        learner.loss(traj, torch.zeros(2, 4))


# ---- critic losses and penalties ------------------------------------------------------------

def test_critic_losses_of_known_scores():
    d_real, d_fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    assert critic_loss("wgan-gp", d_real, d_fake).item() == pytest.approx(-1.0)
    assert critic_loss("hinge", d_real, d_fake).item() == pytest.approx(2.0)
    zero = torch.zeros(2)
    assert critic_loss("gan", zero, zero).item() == pytest.approx(2 * math.log(2))
    assert critic_value("gan", zero).tolist() == pytest.approx([-math.log(2)] * 2)
    assert torch.equal(critic_value("wgan-gp", d_real), d_real)
    with pytest.raises(ConfigError, match="critic_loss='lsgan'"):
        critic_loss("lsgan", d_real, d_fake)


def test_gradient_penalty_is_zero_for_a_unit_lipschitz_linear_critic_only():
    g = torch.Generator().manual_seed(3)
    real, fake = torch.rand(16, 3, 8, 8, generator=g), torch.rand(16, 3, 8, 8, generator=g)
    w = torch.randn(3 * 8 * 8, generator=g)
    unit = w / w.norm()
    assert gradient_penalty(lambda x: x.flatten(1) @ unit, real, fake).item() < 1e-10
    # ‖∇‖ = 3 everywhere: the penalty is (3 − 1)² = 4
    assert gradient_penalty(lambda x: x.flatten(1) @ (3 * unit), real, fake).item() == pytest.approx(4.0)
    assert gradient_penalty(Discriminator(8, False, 4), real, fake).item() > 0


def _top_singular_values(net):
    return [torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item()
            for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


def test_spectral_norm_critic_layers_have_unit_top_singular_value():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16)
    plain = Discriminator(16, False, 8)
    assert any(abs(s - 1) > 0.1 for s in _top_singular_values(plain))
    net = Discriminator(16, False, 8, spectral_norm=True)
    for _ in range(30):   # one power iteration per training-mode forward
        net(x)
    sigmas = _top_singular_values(net)
    assert len(sigmas) == 4 and all(s == pytest.approx(1.0, abs=0.02) for s in sigmas), sigmas


def test_spectral_norm_gan_critic_learns_without_a_gradient_penalty():
    torch.manual_seed(0)
    critic = DiscriminatorLearner(16, conditional=False, lr=1e-3, gp_weight=0, channels=8,
                                  loss="gan", spectral_norm=True)
    g = torch.Generator().manual_seed(2)
    real, fake = torch.rand(8, 3, 16, 16, generator=g), torch.rand(8, 3, 16, 16, generator=g) * 0.2
    first = critic.update(real, fake, None)
    for _ in range(15):
        last = critic.update(real, fake, None)
    assert "gp" not in first and last["d_loss"] < first["d_loss"]
    assert last["d_real"] > last["d_fake"]
    # its reward is log σ(score): never positive
    assert (critic.value(fake, None) <= 0).all()


def test_centring_penalty_is_the_squared_mean_real_score():
    g = torch.Generator().manual_seed(4)
    real, fake = torch.rand(6, 3, 16, 16, generator=g), torch.rand(6, 3, 16, 16, generator=g)
    out = []
    for centre in (0.0, 5.0):
        torch.manual_seed(0)           # the same critic and the same interpolates
        critic = DiscriminatorLearner(16, conditional=False, channels=4, centre=centre)
        out.append(critic.update(real, fake, None))
    plain, centred = out
    assert "d_centre" not in plain
    assert centred["d_centre"] == pytest.approx(plain["d_real"] ** 2, rel=1e-5)
    assert centred["d_loss"] - plain["d_loss"] == pytest.approx(5.0 * centred["d_centre"], rel=1e-4, abs=1e-7)


def test_ema_critic_tracks_the_online_critic_with_its_decay():
    torch.manual_seed(0)
    critic = DiscriminatorLearner(16, conditional=False, lr=1e-2, channels=4, ema=0.9)
    before = [p.detach().clone() for p in critic.ema_net.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, critic.net.parameters()))
    g = torch.Generator().manual_seed(5)
    real, fake = torch.rand(4, 3, 16, 16, generator=g), torch.rand(4, 3, 16, 16, generator=g)
    critic.update(real, fake, None)
    for old, ema, online in zip(before, critic.ema_net.parameters(), critic.net.parameters()):
        assert torch.allclose(ema, 0.9 * old + 0.1 * online, atol=1e-7)
    assert not all(torch.allclose(e, o) for e, o in zip(critic.ema_net.parameters(), critic.net.parameters()))
    # rewards come from the EMA copy
    with torch.no_grad():
        assert torch.allclose(critic.value(fake, None), critic.ema_net(fake))
        assert not torch.allclose(critic.value(fake, None), critic.net(fake))
    # ema_update alone, decay 0: a copy
    ema_update(critic.ema_net, critic.net, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(critic.ema_net.parameters(), critic.net.parameters()))


# ---- config and training --------------------------------------------------------------------

def test_config_switches_match_the_module_and_are_checked():
    assert RULES["critic_loss"].choices == CRITIC_LOSSES
    assert RULES["reward_norm"].choices == NORM_MODES
    defaults = load_config()
    assert (defaults.rl.reward_norm, defaults.rl.temporal_credit) == ("none", False)
    assert (defaults.critic.critic_loss, defaults.critic.gp_weight, defaults.critic.spectral_norm,
            defaults.critic.critic_ema, defaults.critic.critic_centre) == ("wgan-gp", 10.0, False, 0.0, 0.0)
    with pytest.raises(ConfigError, match="temporal_credit=true needs reward='discriminator'"):
        load_config(overrides=["temporal_credit=true"])
    with pytest.raises(ConfigError, match="reward_norm='ema' normalises the critic's value"):
        load_config(overrides=["reward_norm=ema"])
    with pytest.raises(ConfigError, match="critic_ema"):
        load_config(overrides=["critic_ema=1.5"])


def test_tiny_adversarial_run_with_every_stabiliser_checkpoints_and_resumes(tmp_path):
    out = tmp_path / "run"
    switches = ["conditional=false", "reward=discriminator", "reward_norm=running",
                "temporal_credit=true", "critic_loss=gan", "gp_weight=0", "spectral_norm=true",
                "critic_ema=0.9", "critic_centre=0.1", "d_steps=2", "replay_batches=3"]
    sets = [a for s in switches for a in ("--set", s)]
    assert spiral(["train", *TINY, *sets, "--set", f"out_dir={out}", "--set", "updates=2"]) == 0
    policy, info = ckpt.load_model(out / "model.pt")
    assert info["update"] == 2 and not policy.config.conditional
    state = ckpt.load(out / "checkpoint.pt")
    assert state["reward_norm"]["count"] == 2 * 4                       # 2 updates × batch 4
    assert any("parametrizations" in k for k in state["critic"])       # spectral norm
    assert not all(torch.equal(state["critic"][k], state["critic_ema"][k]) for k in state["critic"])
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    for key in ("d_real", "d_fake", "d_centre", "reward_raw_mean", "reward_raw_std",
                "reward_norm_mean", "reward_norm_std", "norm_mean", "norm_std", "entropy"):
        assert key in rows[-1], key
    assert "gp" not in rows[-1]
    # resume: the statistics continue from the checkpoint (a fresh start would count 8)
    assert spiral(["train", *TINY, *sets, "--resume", "--set", f"out_dir={out}", "--set", "updates=4"]) == 0
    state = ckpt.load(out / "checkpoint.pt")
    assert state["update"] == 4 and state["reward_norm"]["count"] == 4 * 4
    assert ckpt.load_model(out / "model.pt")[1]["update"] == 4


def test_wgan_run_logs_the_gradient_penalty_and_ema_statistics(tmp_path):
    out = tmp_path / "run"
    assert spiral(["train", *TINY, "--set", f"out_dir={out}", "--set", "updates=2", "--set",
                   "reward=discriminator", "--set", "reward_norm=ema"]) == 0
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["gp"] > 0 and "norm_std" in row and "d_centre" not in row
    assert "critic_ema" not in ckpt.load(out / "checkpoint.pt")
