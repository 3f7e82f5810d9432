"""SPIRAL training, readable top to bottom: A2C policy + WGAN-GP discriminator.

    spiral train --config configs/mnist.toml [--resume] [--set key=value ...]

1. Roll out ``batch`` episodes per worker with the current policy (raster interpreter by
   default; ``interpreter = "mypaint"`` selects real libmypaint).
2. Reward at the last step: the critic's score of (target, canvas) (``reward = "discriminator"``)
   or ``-MSE`` to the target (``reward = "mse"``), times ``reward_scale``, plus SPIRAL's
   penalties (``stroke_penalty`` per new stroke sequence, ``blank_penalty`` for a blank canvas).
3. A2C update of the policy (advantage against the value baseline, entropy bonus).
4. WGAN-GP critic updates on final canvases from a replay buffer of the last 20 batches.

Embedded by default: every role runs in this process. ``synth.distributed`` runs the same
loop with the same classes as Ray actors.
"""
from __future__ import annotations

import dataclasses
import json
import random
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplRangeError

from . import checkpoint as ckpt
from .nets import PolicyConfig
from .roles import DiscriminatorLearner, PolicyLearner, ReplayBuffer, RolloutWorker
from .rollout import from_uint8

__all__ = ["Args", "train", "load_args", "LocalWorkers"]


@dataclass
class Args:
    """Every knob of a training run (TOML keys have the same names)."""
    name: str = "mnist"
    domain: str = "paint"
    conditional: bool = True
    targets: str = "mnist-train"          # a named set, an image folder or an IDX file
    canvas: int = 64
    grid: int = 32
    brush: str = "classic/dry_brush"
    episode_length: int = 20              # steps incl. the first observation: 19 actions
    interpreter: str = "raster"
    batch: int = 32                       # episodes per worker per update
    workers: int = 1
    updates: int = 1000
    policy_lr: float = 1e-4
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    discount: float = 0.99
    reward: str = "mse"                   # "mse" or "discriminator"
    reward_scale: float = 10.0
    stroke_penalty: float = 0.0
    blank_penalty: float = 0.0
    d_lr: float = 1e-4
    d_batch: int = 64
    d_steps: int = 1
    replay_batches: int = 20
    channels: int = 32
    hidden: int = 256
    spatial: bool = False                 # location heads read the encoder's map (nets.SpatialLocationHead)
    seed: int = 0
    threads: int = 2
    device: str = "cpu"                   # "cpu", "cuda" or "auto" (cuda when available)
    value_warmup: int = 0                 # first RL updates train only the value baseline
    init_from: str = ""                   # pretrained weights (synth.pretrain output)
    pretrain_updates: int = 0             # `spiral train` pretrains first for this many steps
    pretrain_seconds: float = 0.0         # ... or until this wall-clock time (0: no limit)
    pretrain_lr: float = 3e-4
    pretrain_batch: int = 0               # episodes per pretraining step (0: batch)
    pretrain_source: str = "random"       # "random" programs, or "teacher": greedy search
                                          # programs for the training targets (distillation)
    teacher: str = ""                     # teacher file (default <out_dir>/teacher.npz)
    teacher_candidates: int = 128
    teacher_polish: int = 3
    teacher_workers: int = 0              # processes building the teacher (0: every core)
    out_dir: str = "runs/mnist"
    checkpoint_every: int = 50
    log_every: int = 10
    max_seconds: float = 0.0              # stop after this wall-clock time (0: no limit)
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def validate(self) -> Args:
        choices = {"domain": ("paint", "scene"), "reward": ("mse", "discriminator"),
                   "interpreter": ("raster", "mypaint", "mujoco"), "device": ("cpu", "cuda", "auto"),
                   "pretrain_source": ("random", "teacher")}
        for key, valid in choices.items():
            if getattr(self, key) not in valid:
                raise SplRangeError(f"{key}={getattr(self, key)!r} is not one of {list(valid)}")
        for key in ("batch", "workers", "d_batch", "replay_batches", "checkpoint_every",
                    "log_every", "threads", "teacher_candidates"):
            if getattr(self, key) < 1:
                raise SplRangeError(f"{key}={getattr(self, key)} must be >= 1")
        # updates = 0: no RL; the model is the pretrained policy
        for key in ("updates", "value_warmup", "pretrain_batch", "teacher_polish", "teacher_workers"):
            if getattr(self, key) < 0:
                raise SplRangeError(f"{key}={getattr(self, key)} must be >= 0")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise SplRangeError("device=\"cuda\" but torch sees no CUDA device; use \"cpu\" or \"auto\"")
        if self.pretrain_source == "teacher" and self.domain != "paint":
            raise SplRangeError("pretrain_source=\"teacher\" is for the paint domain (greedy search)")
        if self.episode_length < 2:
            raise SplRangeError(f"episode_length={self.episode_length} must be >= 2")
        if not self.conditional and self.reward != "discriminator":
            raise SplRangeError("unconditional training needs reward = \"discriminator\"")
        return self

    def spec(self) -> ActionSpec:
        settings = {"canvas": self.canvas, "grid": self.grid}
        if self.domain == "paint":
            settings["brush"] = self.brush
        else:
            settings["objects"] = self.episode_length - 1
        return ActionSpec.for_domain(self.domain, settings)

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def policy_config(self) -> PolicyConfig:
        return PolicyConfig(channels=self.channels, hidden=self.hidden, conditional=self.conditional,
                            spatial=self.spatial)


def load_args(config: str | None = None, overrides: list[str] = ()) -> Args:
    """Args from a TOML file, then ``key=value`` overrides (typed like the field)."""
    values = {}
    if config:
        path = Path(config)
        if not path.is_file():
            raise SplRangeError(f"config file {path} does not exist")
        with path.open("rb") as f:
            values = tomllib.load(f)
    known = {f.name: f for f in dataclasses.fields(Args)}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key not in known:
            raise SplRangeError(f"bad override {item!r}: use key=value with key in {sorted(known)}")
        default = getattr(Args(), key)
        values[key] = (text.lower() in ("1", "true", "yes")) if isinstance(default, bool) else type(default)(text)
    unknown = set(values) - set(known)
    if unknown:
        raise SplRangeError(f"unknown config keys {sorted(unknown)}; valid: {sorted(known)}")
    return Args(**values).validate()


class LocalWorkers:
    """Rollout workers in this process (the embedded default).

    ``single_forward`` (default): with one worker, :meth:`rollouts` given the learner's policy
    samples with it and keeps the graph, so the A2C update back-propagates through the
    rollout instead of running the policy a second time (same gradient, one forward pass
    fewer). With several workers every trajectory after the first is a version behind when
    the learner reaches it and is re-evaluated, so all use their own copies."""

    def __init__(self, args: Args, spec: ActionSpec, targets, single_forward: bool = True):
        self.single_forward = single_forward
        self.workers = [RolloutWorker(spec, args.policy_config(), args.batch, args.episode_length,
                                      targets, args.interpreter, seed=args.seed + 1000 * i,
                                      device=args.torch_device() if args.interpreter == "raster" else "cpu")
                        for i in range(args.workers)]

    def set_weights(self, weights: dict, version: int) -> None:
        for w in self.workers:
            w.set_weights(weights, version)

    def rollouts(self, policy=None) -> list:
        """One trajectory per worker; ``policy``: the learner's (see the class docstring)."""
        if (policy is not None and self.single_forward and len(self.workers) == 1
                and self.workers[0].policy.device == policy.device):
            return [self.workers[0].rollout(policy)]
        return [w.rollout() for w in self.workers]

    def close(self) -> None:
        for w in self.workers:
            w.env.close()


def _load_targets(args: Args):
    if args.domain == "scene":  # scenes: targets are renders of random scene programs
        from .data import scene_targets
        return scene_targets(args.spec(), count=max(512, args.batch * 8), seed=args.seed)
    from .data import load_set
    images, _ = load_set(args.targets, size=args.canvas)
    return images


def final_reward(args: Args, traj, critic: DiscriminatorLearner) -> torch.Tensor:
    """(B,) reward at the last step, penalties included."""
    final, targets = traj.final, from_uint8(traj.targets)
    if args.reward == "mse":
        reward = -((final - targets) ** 2).flatten(1).mean(1)
    else:
        with torch.no_grad():
            reward = critic.score(final, targets)
    reward = reward * args.reward_scale
    reward = reward + args.stroke_penalty * traj.new_sequences + args.blank_penalty * traj.blank.float()
    return reward


def train(args: Args, workers=None, stop=None, callback=None) -> dict:
    """Run (or resume) a training run; return the last metrics.

    ``workers`` defaults to :class:`LocalWorkers` (Ray passes its own pool with the same
    ``set_weights``/``rollouts`` methods); ``stop()`` may return True to end early with a final
    checkpoint; ``callback(update, metrics, save)`` runs after every update (``save(update)``
    writes the checkpoint) and may return True to stop."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    spec = args.spec()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "args.json").write_text(json.dumps(dataclasses.asdict(args), indent=1))
    targets = _load_targets(args)

    device = args.torch_device()
    learner = PolicyLearner(spec, args.policy_config(), args.policy_lr, args.entropy_coef,
                            args.value_coef, args.discount, device=device)
    critic = DiscriminatorLearner(args.canvas, args.conditional, args.d_lr, channels=args.channels,
                                  device=device)
    replay = ReplayBuffer(args.replay_batches, seed=args.seed)
    start, elapsed = 0, 0.0
    last = out / "checkpoint.pt"
    if args.extra.get("resume") and last.is_file():
        state = ckpt.load(last)
        learner.policy.load_state_dict(state["model"]["weights"])
        learner.opt.load_state_dict(state["policy_opt"])
        critic.net.load_state_dict(state["critic"])
        critic.opt.load_state_dict(state["critic_opt"])
        start, elapsed = state["update"], state["elapsed"]
        learner.version = start
        torch.set_rng_state(state["torch_rng"])
        # a resumed run takes its hyperparameters from args (PBT explores them this way)
        learner.set_hyperparameters(lr=args.policy_lr, entropy_coef=args.entropy_coef)
        print(f"resumed {last} at update {start}", file=sys.stderr)
    elif args.init_from:
        policy, _ = ckpt.load_model(args.init_from)
        learner.policy.load_state_dict(policy.state_dict())
    own_workers = workers is None
    workers = workers or LocalWorkers(args, spec, targets)
    real_rng = np.random.default_rng(args.seed + 7)
    metrics_file = (out / "metrics.jsonl").open("a")
    t0 = time.perf_counter() - elapsed
    metrics: dict = {}

    def save(update: int) -> None:
        ckpt.save_atomic({"model": ckpt.model_record(learner.policy, run=args.name, update=update),
                          "policy_opt": learner.opt.state_dict(), "critic": critic.get_weights(),
                          "critic_opt": critic.opt.state_dict(), "update": update,
                          "elapsed": time.perf_counter() - t0, "torch_rng": torch.get_rng_state(),
                          "args": json.dumps(dataclasses.asdict(args))}, last)

    update = start
    try:
        for update in range(start + 1, args.updates + 1):
            workers.set_weights(learner.get_weights(), learner.version)
            shared = (learner.policy,) if isinstance(workers, LocalWorkers) else ()
            for traj in workers.rollouts(*shared):
                stale = learner.version - traj.policy_version
                if stale > 1:  # off-policy beyond one update: drop rather than importance-weight
                    metrics["dropped_stale"] = metrics.get("dropped_stale", 0) + 1
                    continue
                traj = traj.to(device)
                reward = final_reward(args, traj, critic)
                metrics = learner.update(traj, reward, value_only=update <= args.value_warmup)
                replay.add(traj.targets, traj.canvases[-1])
                mse = ((traj.final - from_uint8(traj.targets)) ** 2).flatten(1).mean(1)
                metrics.update(reward=reward.mean().item(), mse=mse.mean().item())
                if args.reward == "discriminator":
                    for _ in range(args.d_steps):
                        real_targets, fakes = replay.sample(args.d_batch)
                        if args.conditional:
                            real = real_targets
                        else:
                            idx = torch.from_numpy(real_rng.integers(0, len(targets), args.d_batch))
                            real = torch.from_numpy(targets[idx.numpy()]).permute(0, 3, 1, 2).to(device)
                        metrics.update(critic.update(real, fakes, real_targets))
            seconds = time.perf_counter() - t0
            frames = update * args.workers * args.batch * (args.episode_length - 1)
            metrics.update(update=update, seconds=round(seconds, 2), frames=frames)
            metrics_file.write(json.dumps(metrics) + "\n")
            metrics_file.flush()
            if args.progress and (update % args.log_every == 0 or update == args.updates):
                print(f"\r[{update}/{args.updates}] mse {metrics.get('mse', float('nan')):.4f} "
                      f"reward {metrics.get('reward', float('nan')):+.4f} "
                      f"entropy {metrics.get('entropy', float('nan')):.2f} "
                      f"{frames / max(seconds, 1e-9):.0f} frames/s", end="\n", file=sys.stderr)
            if update % args.checkpoint_every == 0:
                save(update)
            if callback is not None and callback(update, metrics, save):
                break
            if (args.max_seconds and seconds > args.max_seconds) or (stop is not None and stop()):
                break
    finally:  # Ctrl-C or a stop request: keep what was learned
        save(update)
        ckpt.save_model(learner.policy, out / "model.pt", run=args.name, update=update,
                        seconds=round(time.perf_counter() - t0, 1))
        metrics_file.close()
        if own_workers:
            workers.close()
    return metrics
