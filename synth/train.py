"""SPIRAL training, readable top to bottom: A2C policy + a critic (WGAN-GP by default).

    spiral train --config configs/mnist.toml [--resume] [--set key=value ...]

1. Roll out ``batch`` episodes per worker with the current policy (raster interpreter by
   default; ``interpreter = "mypaint"`` selects real libmypaint).
2. Reward at the last step: the critic's value of (target, canvas) (``reward = "discriminator"``)
   or ``-MSE`` to the target (``reward = "mse"``), times ``reward_scale``, plus SPIRAL's
   penalties (``stroke_penalty`` per new stroke sequence, ``blank_penalty`` for a blank canvas).
   The critic's stabilisers (:mod:`synth.critic`, each a config switch, off by default):
   ``reward_norm`` standardises its value by running statistics, ``temporal_credit`` rewards
   every step by the change of the value of the canvas, ``critic_ema`` takes rewards from a
   moving average of the critic.
3. A2C update of the policy (advantage against the value baseline, entropy bonus).
4. ``d_steps`` critic updates on final canvases from a replay buffer of the last
   ``replay_batches`` batches (``critic_loss``: WGAN-GP, the standard GAN loss or hinge;
   ``spectral_norm``; ``critic_centre``). metrics.jsonl logs the critic's mean score of real
   and fake images (``d_real``, ``d_fake``), the penalties (``gp``, ``d_centre``), the
   reward's statistics and the policy's entropy every update.

Embedded by default: every role runs in this process. ``synth.distributed`` runs the same
loop with the same classes as Ray actors.
"""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from spiral_dsl.actions import ActionSpec
from spiral_dsl.io import write_atomic

from . import checkpoint as ckpt
from . import rundir
from .config import TrainConfig
from .critic import RunningNorm, temporal_credit
from .errors import ConfigError
from .gradients import GradientPool, local_pool
from .grids import COUNT, write_grid
from .roles import DiscriminatorLearner, PolicyLearner, ReplayBuffer, RolloutWorker
from .rollout import from_uint8, to_uint8

__all__ = ["train", "LocalWorkers", "default_workers", "final_reward", "rewards", "load_targets"]


class LocalWorkers:
    """Rollout workers in this process (the embedded default).

    ``single_forward`` (default): with one worker, :meth:`rollouts` given the learner's policy
    samples with it and keeps the graph, so the A2C update back-propagates through the
    rollout instead of running the policy a second time (same gradient, one forward pass
    fewer). With several workers every trajectory after the first is a version behind when
    the learner reaches it and is re-evaluated, so all use their own copies."""

    def __init__(self, config: TrainConfig, spec: ActionSpec, targets, single_forward: bool = True):
        run = config.run
        self.single_forward = single_forward
        device = config.torch_device() if run.interpreter == "raster" else "cpu"
        self.workers = [RolloutWorker(spec, config.policy, config.rl.batch, run.episode_length,
                                      targets, run.interpreter, seed=run.seed + 1000 * i,
                                      device=device)
                        for i in range(run.workers)]

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


def default_workers(config: TrainConfig, spec: ActionSpec, targets):
    """The embedded workers: :class:`LocalWorkers`, or with ``run.shards > 1`` a
    :func:`synth.gradients.local_pool` of that many processes (CPU only)."""
    if config.run.shards == 1:
        return LocalWorkers(config, spec, targets)
    if config.torch_device().type != "cpu":
        raise ConfigError(f"shards={config.run.shards} splits updates over CPU processes, but "
                          f"device={config.run.device!r} resolves to {config.torch_device()}; "
                          "set device='cpu' or shards=1")
    return local_pool(config, spec, targets)


def _a2c_steps(workers, learner: PolicyLearner, reward_of, device, value_only: bool, metrics: dict):
    """This update's A2C steps: ``(trajectory, reward, reward metrics, metrics)`` after each.

    A :class:`synth.gradients.GradientPool` makes one step of all its shards' episodes;
    otherwise every worker's trajectory is one step (the first with the learner's own policy
    when the workers are in this process, see :class:`LocalWorkers`)."""
    if isinstance(workers, GradientPool):
        yield workers.update(learner, reward_of, value_only)
        return
    workers.set_weights(learner.get_weights(), learner.version)
    shared = (learner.policy,) if isinstance(workers, LocalWorkers) else ()
    for traj in workers.rollouts(*shared):
        if learner.version - traj.policy_version > 1:
            # off-policy beyond one update: drop rather than importance-weight
            metrics["dropped_stale"] = metrics.get("dropped_stale", 0) + 1
            continue
        traj = traj.to(device)
        reward, reward_metrics = reward_of(traj)
        metrics = learner.update(traj, reward, value_only=value_only)
        yield traj, reward, reward_metrics, metrics


def load_targets(config: TrainConfig):
    """The training targets (N, H, W, 3) float in [0, 1] of ``config.run``."""
    run = config.run
    if run.domain == "scene":  # scenes: targets are renders of random scene programs
        from .data import scene_targets
        return scene_targets(config.spec(), count=max(512, config.rl.batch * 8), seed=run.seed)
    from .data import load_set
    images, _ = load_set(run.targets, size=run.canvas)
    return images


def _critic_real_images(config: TrainConfig, spec, targets: np.ndarray) -> torch.Tensor:
    """What an unconditional critic takes for real, uint8 (N, 3, H, W) on the CPU (quantised
    like the policy's canvases in the replay): the training ``targets``, or with
    ``critic_real = "teacher"`` the teacher programs' drawings of them
    (:func:`synth.pretrain.teacher_drawings`). A conditional critic's real pairs come from the
    replay instead (each target beside itself)."""
    if config.critic.critic_real == "teacher":
        from .pretrain import teacher_drawings
        return teacher_drawings(config, spec, targets)
    return to_uint8(torch.from_numpy(np.ascontiguousarray(targets.transpose(0, 3, 1, 2))))


def final_reward(rl, traj, critic: DiscriminatorLearner, norm: RunningNorm | None = None) -> torch.Tensor:
    """(B,) reward at the last step, penalties included (``rl``: the :class:`RLConfig`).
    With ``norm`` (``reward = "discriminator"``) the critic's value is standardised by it
    (after folding this batch in, :class:`synth.critic.RunningNorm`)."""
    return rewards(rl, traj, critic, norm)[0]


def rewards(rl, traj, critic: DiscriminatorLearner, norm: RunningNorm | None = None):
    """The policy's reward of a trajectory and what to log of it: ``(reward, metrics)``.

    ``reward`` is (B,) at the last step, or (T, B) per step with ``rl.temporal_credit``
    (:func:`synth.critic.temporal_credit` of the value of every canvas). The critic's value
    ``R`` (:meth:`DiscriminatorLearner.value`) of the final canvases updates ``norm``, which
    then standardises every value; then ``reward_scale``; then SPIRAL's penalties at the last
    step. ``metrics``: the value's batch mean/deviation before (``reward_raw_*``) and after
    (``reward_norm_*``) normalisation and scaling, and ``norm``'s running statistics."""
    final, targets = traj.final, from_uint8(traj.targets)
    metrics = {}
    if rl.reward == "mse":
        reward = -((final - targets) ** 2).flatten(1).mean(1) * rl.reward_scale
    else:
        if rl.temporal_credit:   # the critic's value of each canvas (T+1, B), one batch per step
            values = torch.stack([critic.value(from_uint8(c), targets) for c in traj.canvases])
        else:
            values = critic.value(final, targets)[None]                        # (1, B)
        raw = values[-1]
        if norm is not None:
            norm.update(raw)
            values = norm.normalise(values)
            if norm.mode != "none":
                metrics.update(norm_mean=norm.mean, norm_std=norm.std)
        values = values * rl.reward_scale

        def std(x):  # the batch's deviation (0 for a batch of one)
            return x.std().item() if x.numel() > 1 else 0.0
        metrics.update(reward_raw_mean=raw.mean().item(), reward_raw_std=std(raw),
                       reward_norm_mean=values[-1].mean().item(), reward_norm_std=std(values[-1]))
        reward = temporal_credit(values) if rl.temporal_credit else values[0]
    penalties = rl.stroke_penalty * traj.new_sequences + rl.blank_penalty * traj.blank.float()
    if reward.dim() == 2:
        reward = torch.cat([reward[:-1], (reward[-1] + penalties)[None]])
    else:
        reward = reward + penalties
    return reward, metrics


def train(config: TrainConfig, workers=None, stop=None, callback=None) -> dict:
    """Run (or with ``run.resume`` and ``<out_dir>/checkpoint.pt``, continue) the RL stage;
    return the last metrics.

    ``workers`` defaults to :class:`LocalWorkers` (Ray passes its own pool with the same
    ``set_weights``/``rollouts`` methods); ``stop()`` may return True to end early with a final
    checkpoint, as SIGTERM does; ``callback(update, metrics, save)`` runs after every update
    (``save(update)`` writes the checkpoint) and may return True to stop. ``out_dir`` is
    locked for the call (:func:`synth.rundir.locked`). Torch runs on ``config.torch_threads()``
    threads (``run.threads``; by default every core but one), restored on return."""
    with rundir.running(config, stop) as stop_:
        return _train(config, workers, stop_, callback)


def _train(config: TrainConfig, workers, stop, callback) -> dict:
    run, rl, critic_cfg = config.run, config.rl, config.critic
    if run.shards > 1:
        # each shard is one core: a learner on run.threads threads beside shards - 1 children
        # oversubscribed the cores (the learner's process took twice a child's time per update)
        torch.set_num_threads(1)
    torch.manual_seed(run.seed)
    random.seed(run.seed)
    np.random.seed(run.seed)
    spec = config.spec()
    out = Path(run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "args.json", json.dumps(config.flat(), indent=1))
    targets = load_targets(config)

    device = config.torch_device()
    learner = PolicyLearner(spec, config.policy, rl.policy_lr, rl.entropy_coef,
                            rl.value_coef, rl.discount, device=device)
    critic = DiscriminatorLearner(run.canvas, config.policy.conditional, critic_cfg.d_lr,
                                  gp_weight=critic_cfg.gp_weight, channels=config.policy.channels,
                                  device=device, loss=critic_cfg.critic_loss,
                                  spectral_norm=critic_cfg.spectral_norm, ema=critic_cfg.critic_ema,
                                  centre=critic_cfg.critic_centre)
    norm = RunningNorm(rl.reward_norm, rl.reward_norm_decay)
    replay = ReplayBuffer(critic_cfg.replay_batches, seed=run.seed)
    start, elapsed, resumed = 0, 0.0, False
    last = out / "checkpoint.pt"
    if run.resume and last.is_file():
        resumed = True
        state = ckpt.load(last)
        learner.policy.load_state_dict(state["model"]["weights"])
        learner.opt.load_state_dict(state["policy_opt"])
        critic.net.load_state_dict(state["critic"])
        critic.opt.load_state_dict(state["critic_opt"])
        critic.set_ema_weights(state.get("critic_ema"))     # absent: older checkpoint, or off
        if "reward_norm" in state:
            norm.load_state_dict(state["reward_norm"])
        start, elapsed = state["update"], state["elapsed"]
        learner.version = start
        torch.set_rng_state(state["torch_rng"])
        # a resumed run takes its hyperparameters from the config (PBT explores them this way)
        learner.set_hyperparameters(lr=rl.policy_lr, entropy_coef=rl.entropy_coef)
        print(f"resumed {last} at update {start}", file=sys.stderr)
    elif run.init_from:
        policy, _ = ckpt.load_model(run.init_from)
        learner.policy.load_state_dict(policy.state_dict())
    own_workers = workers is None
    workers = workers or default_workers(config, spec, targets)
    real_rng = np.random.default_rng(run.seed + 7)
    real_pool = (_critic_real_images(config, spec, targets)
                 if rl.reward == "discriminator" and not config.policy.conditional else None)
    metrics_file = rundir.open_log(out / "metrics.jsonl", start if resumed else None)
    t0 = time.perf_counter() - elapsed
    metrics: dict = {}

    def save(update: int) -> None:
        ckpt.save_atomic({"model": ckpt.model_record(learner.policy, run=run.name, update=update),
                          "policy_opt": learner.opt.state_dict(), "critic": critic.get_weights(),
                          "critic_opt": critic.opt.state_dict(), "update": update,
                          **({"critic_ema": critic.get_ema_weights()} if critic.ema_net is not None else {}),
                          **({"reward_norm": norm.state_dict()} if norm.mode != "none" else {}),
                          "elapsed": time.perf_counter() - t0, "torch_rng": torch.get_rng_state(),
                          "args": json.dumps(config.flat())}, last)

    update = start
    try:
        for update in range(start + 1, rl.updates + 1):
            traj = None
            # each step hands back this update's metrics; the dict passed in gathers the
            # trajectories dropped as stale before it
            for traj, reward, reward_metrics, metrics in _a2c_steps(  # noqa: B020
                    workers, learner, lambda t: rewards(rl, t, critic, norm), device,
                    value_only=update <= rl.value_warmup, metrics=metrics):
                replay.add(traj.targets, traj.canvases[-1])
                mse = ((traj.final - from_uint8(traj.targets)) ** 2).flatten(1).mean(1)
                # reward: the mean episode return (the final reward, or the per-step rewards' sum)
                episode = reward.sum(0) if reward.dim() == 2 else reward
                metrics.update(reward=episode.mean().item(), mse=mse.mean().item(), **reward_metrics)
                if rl.reward == "discriminator":
                    for _ in range(critic_cfg.d_steps):
                        real_targets, fakes = replay.sample(critic_cfg.d_batch)
                        if config.policy.conditional:
                            real = real_targets
                        else:
                            idx = torch.from_numpy(real_rng.integers(0, len(real_pool), critic_cfg.d_batch))
                            real = from_uint8(real_pool[idx]).to(device)
                        metrics.update(critic.update(real, fakes, real_targets))
            if run.grid_every and update % run.grid_every == 0 and traj is not None:
                targets_shown = traj.targets[:COUNT] if config.policy.conditional else None
                metrics["grid"] = str(write_grid(out, update, traj.canvases[-1][:COUNT], targets_shown))
            seconds = time.perf_counter() - t0
            frames = update * run.workers * rl.batch * (run.episode_length - 1)
            metrics.update(update=update, seconds=round(seconds, 2), frames=frames)
            metrics_file.write(json.dumps(metrics) + "\n")
            metrics_file.flush()
            if run.progress and (update % run.log_every == 0 or update == rl.updates):
                print(f"\r[{update}/{rl.updates}] mse {metrics.get('mse', float('nan')):.4f} "
                      f"reward {metrics.get('reward', float('nan')):+.4f} "
                      f"entropy {metrics.get('entropy', float('nan')):.2f} "
                      f"{frames / max(seconds, 1e-9):.0f} frames/s", end="\n", file=sys.stderr)
            if update % run.checkpoint_every == 0:
                save(update)
            if callback is not None and callback(update, metrics, save):
                break
            if (run.max_seconds and seconds > run.max_seconds) or stop():
                break
    finally:  # Ctrl-C, SIGTERM or a stop request: keep what was learned
        try:
            save(update)
            ckpt.save_model(learner.policy, out / "model.pt", run=run.name, update=update,
                            seconds=round(time.perf_counter() - t0, 1))
        finally:  # closed even when the final save fails (a full disk)
            metrics_file.close()
            if own_workers:
                workers.close()
    return metrics
