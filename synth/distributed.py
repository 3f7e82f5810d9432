"""Scale out on Ray: the roles of :mod:`synth.roles` as actors, the loop of :mod:`synth.train`.

* :class:`RayWorkers` — ``RolloutWorker`` wrapped with ``ray.remote`` (outside the class), one
  actor per worker, restarted on death (``max_restarts``): a rollout lost to a dead actor is
  re-run after the restarted actor gets the current weights again. Weights move explicitly
  (``ray.put`` once per update, ``set_weights`` on every actor).
* Stale trajectories: the learner drops any trajectory more than one policy version old (no
  importance weighting); with synchronous rollouts none are stale, and the count is logged.
* The learners (policy and critic) stay in the driver process: on one machine that avoids
  shipping gradients, and the loop is exactly the embedded one.
* :func:`run_pbt` — population-based training with Ray Tune's ``PopulationBasedTraining``,
  exploring ``policy_lr`` and ``entropy_coef``; exploit copies a better trial's checkpoint.
  Each member has its own discriminator (SPIRAL++'s shared critic is not implemented).
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from .config import TrainConfig
from .train import load_targets, train

__all__ = ["init_ray", "RayWorkers", "train_on_ray", "run_pbt"]


#: Read by Ray when it is imported: with it off, a local instance keeps 127.0.0.1 as its node
#: address. Otherwise Ray replaces 127.0.0.1 by the machine's external address
#: (ray/_private/services.py, ``resolve_ip_for_localhost``) and its servers (GCS, raylet,
#: workers, runtime-env agent) listen on every interface: unauthenticated code execution for
#: anyone on the network.
_LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def init_ray(address: str | None = None, num_cpus: int | None = None):
    """``ray.init`` once per process: a local instance whose every server listens on 127.0.0.1
    only (tests/synth/test_distributed.py lists their sockets), or a connection to the cluster
    at ``address``."""
    if not address:
        os.environ[_LOCAL_ONLY] = "0"   # also inherited by the processes Ray starts
    import ray
    if ray.is_initialized():
        return ray
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        from ray._private import ray_constants
        ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before the variable
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                 _node_ip_address="127.0.0.1", log_to_driver=False)
    return ray


class RayWorkers:
    """Rollout workers as Ray actors, with the interface of :class:`synth.train.LocalWorkers`."""

    def __init__(self, config: TrainConfig, spec, targets, max_restarts: int = 3):
        import ray

        from .roles import RolloutWorker
        # rollouts and learning alternate (synchronous A2C), so a lone actor may use every
        # thread; OpenMP threads must sleep, not spin, between ops or they fight the learner's
        # threads for the cores (measured: spinning made a 2-thread actor 35x slower)
        remote = ray.remote(num_cpus=1, max_restarts=max_restarts,
                            runtime_env={"env_vars": {"OMP_WAIT_POLICY": "PASSIVE"}})(RolloutWorker)
        targets_ref = self._targets_ref = ray.put(targets)  # kept: a restarted actor re-reads it
        run = config.run
        self.actors = [remote.options(name=f"rollout-worker-{i}-{os.getpid()}").remote(
            spec, config.policy, config.rl.batch, run.episode_length, targets_ref,
            run.interpreter, run.seed + 1000 * i, max(1, config.torch_threads() // run.workers))
            for i in range(run.workers)]
        self.restarts = 0
        self._weights = None

    def set_weights(self, weights: dict, version: int) -> None:
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError
        ref = ray.put(weights)
        self._weights = (ref, version)
        pending = [a.set_weights.remote(ref, version) for a in self.actors]
        for actor, p in zip(self.actors, pending):
            try:
                ray.get(p)
            except (RayActorError, ActorUnavailableError):
                self.restarts += 1
                self._resend(actor, (RayActorError, ActorUnavailableError))

    def rollouts(self) -> list:
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError
        lost = (RayActorError, ActorUnavailableError)
        refs = [a.rollout.remote() for a in self.actors]
        out = []
        for actor, ref in zip(self.actors, refs):
            for attempt in range(6):
                try:
                    out.append(ray.get(ref))
                    break
                except lost:
                    if attempt == 5:
                        raise
                    self.restarts += 1  # the restarted actor has fresh state: resend the weights
                    self._resend(actor, lost)
                    ref = actor.rollout.remote()
        return out

    def _resend(self, actor, lost, timeout: float = 60.0) -> None:
        import time

        import ray
        deadline = time.monotonic() + timeout
        while True:
            try:
                ray.get(actor.set_weights.remote(*self._weights))
                return
            except lost:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)  # still restarting

    def close(self) -> None:
        import ray
        for a in self.actors:
            ray.kill(a)


def train_on_ray(config: TrainConfig, address: str | None = None) -> dict:
    """The embedded loop with rollout workers on Ray; Ctrl-C ends with a final checkpoint."""
    init_ray(address, num_cpus=None)
    workers = RayWorkers(config, config.spec(), load_targets(config))
    interrupted = {"flag": False}

    def on_sigint(signum, frame):
        interrupted["flag"] = True
        print("\nstopping after this update (final checkpoint follows)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        return train(config, workers=workers, stop=lambda: interrupted["flag"])
    finally:
        signal.signal(signal.SIGINT, previous)
        workers.close()


def _pbt_member(config: dict) -> None:
    """One PBT member: train, report every ``interval`` updates with a checkpoint."""
    from ray import tune
    out_dir = Path(tune.get_context().get_trial_dir()) / "run"
    start = tune.get_checkpoint()
    member = TrainConfig.from_flat(config["base"]).replace(
        policy_lr=config["policy_lr"], entropy_coef=config["entropy_coef"], out_dir=str(out_dir),
        progress=False, resume=start is not None)
    out_dir.mkdir(parents=True, exist_ok=True)
    if start is not None:  # exploit (or restore): continue from the given member's weights
        with start.as_directory() as d:
            shutil.copy(Path(d) / "checkpoint.pt", out_dir / "checkpoint.pt")

    def report(update, metrics, save):
        if update % config["interval"] and update != member.rl.updates:
            return False
        save(update)
        with tempfile.TemporaryDirectory() as d:
            shutil.copy(out_dir / "checkpoint.pt", Path(d) / "checkpoint.pt")
            tune.report({"mse": metrics.get("mse", 1.0), "reward": metrics.get("reward", 0.0),
                         "update": update}, checkpoint=tune.Checkpoint.from_directory(d))
        return False

    train(member, callback=report)


def run_pbt(config: TrainConfig, population: int = 4, interval: int = 5, address: str | None = None,
            storage: str | None = None):
    """Population-based training of ``population`` members; returns Ray Tune's ResultGrid."""
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining
    init_ray(address)
    run, updates = config.run, config.rl.updates
    interval = max(1, min(interval, updates))
    scheduler = PopulationBasedTraining(
        time_attr="training_iteration", perturbation_interval=1,
        hyperparam_mutations={"policy_lr": tune.loguniform(1e-5, 1e-3),
                              "entropy_coef": tune.loguniform(1e-4, 1e-1)})
    base = config.replace(resume=False).flat()
    reports = -(-updates // interval)  # every interval, and at the last update
    tuner = tune.Tuner(
        tune.with_resources(_pbt_member, {"cpu": 1}),
        param_space={"base": base, "interval": interval,
                     "policy_lr": tune.loguniform(1e-5, 1e-3),
                     "entropy_coef": tune.loguniform(1e-4, 1e-1)},
        tune_config=tune.TuneConfig(scheduler=scheduler, num_samples=population, metric="mse", mode="min"),
        run_config=tune.RunConfig(name=f"pbt-{run.name}", storage_path=str(Path(storage or run.out_dir).resolve()),
                                  stop={"training_iteration": reports}, verbose=0),
    )
    results = tuner.fit()
    best = results.get_best_result()
    print(f"best member: mse {best.metrics.get('mse')} with policy_lr "
          f"{best.config['policy_lr']:.2e}, entropy_coef {best.config['entropy_coef']:.2e}", file=sys.stderr)
    return results
