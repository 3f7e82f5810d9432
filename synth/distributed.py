"""Scale out on Ray: the roles of :mod:`synth.roles` as actors, the loop of :mod:`synth.train`.

* :class:`RayWorkers` — :class:`synth.gradients.GradientWorker` wrapped with ``ray.remote``
  (outside the class), one actor per worker, each rolling out ``batch`` episodes and
  back-propagating its part of the A2C loss through its own rollout (one forward pass, as in
  the embedded loop); the driver computes the reward on the joined batch, averages the
  gradients and takes one step (:class:`synth.gradients.GradientPool`). Weights travel with
  every rollout call. Actors restart on death (``max_restarts``): a rollout lost to a dead
  actor is called again; a backward pass lost with one leaves that actor's episodes out of
  the update (``lost_shards``).
* The learners (policy and critic) stay in the driver process; the loop is the embedded one.
* :func:`run_pbt` — population-based training with Ray Tune's ``PopulationBasedTraining``,
  exploring ``policy_lr`` and ``entropy_coef``; exploit copies a better trial's checkpoint
  (policy and critic). The fitness (:func:`fitness`) is the critic's score when the reward is
  the critic's, else the batch's −MSE. Each member has its own discriminator (SPIRAL++'s
  shared critic is not implemented).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from spiral_dsl.io import write_atomic

from .config import TrainConfig
from .errors import RunError
from .gradients import GradientPool
from .train import load_targets, train

__all__ = ["init_ray", "RayWorkers", "train_on_ray", "run_pbt", "fitness", "best_member",
           "PBT_SUMMARY"]

#: Written by :func:`run_pbt` in the run's ``out_dir``: each member's last training checkpoint,
#: final hyperparameters and fitness, and the best member.
PBT_SUMMARY = "pbt_summary.json"


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


class _RayHandle:
    """One Ray actor running a :class:`synth.gradients.GradientWorker`, with the pool's
    ``call``/``result`` protocol. A rollout lost to a dead actor is called again (the call
    carries the weights, so the restarted actor is complete); a backward pass lost with it
    raises :class:`~synth.gradients.ShardLost` (its graph died with the actor)."""

    def __init__(self, owner: RayWorkers, actor):
        self.owner, self.actor, self._calls = owner, actor, []

    def call(self, name: str, *args) -> None:
        self._calls.append((name, args, getattr(self.actor, name).remote(*args)))

    def result(self):
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError

        from .gradients import ShardLost
        lost = (RayActorError, ActorUnavailableError)
        name, args, ref = self._calls.pop(0)
        for attempt in range(6):
            try:
                return ray.get(ref)
            except lost:
                self.owner.restarts += 1
                if name != "rollout":
                    raise ShardLost(name) from None
                if attempt == 5:
                    raise
                ref = self._retry(name, args, lost)

    def _retry(self, name, args, lost, timeout: float = 60.0):
        """The call again once the restarted actor answers (it may still be starting)."""
        import time

        import ray
        deadline = time.monotonic() + timeout
        while True:
            try:
                ray.get(self.actor.set_weights.remote(*args))   # rollout's (weights, version)
                return getattr(self.actor, name).remote(*args)
            except lost:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        import ray
        ray.kill(self.actor)


class RayWorkers(GradientPool):
    """``run.workers`` :class:`synth.gradients.GradientWorker` actors of ``batch`` episodes
    each; the learner (in the driver) averages their gradients into one step per update."""

    def __init__(self, config: TrainConfig, spec, targets, max_restarts: int = 3):
        import ray

        from .gradients import GradientWorker
        # rollouts and learning alternate (synchronous A2C), so a lone actor may use every
        # thread; OpenMP threads must sleep, not spin, between ops or they fight the learner's
        # threads for the cores (measured: spinning made a 2-thread actor 35x slower)
        remote = ray.remote(num_cpus=1, max_restarts=max_restarts,
                            runtime_env={"env_vars": {"OMP_WAIT_POLICY": "PASSIVE"}})(GradientWorker)
        targets_ref = self._targets_ref = ray.put(targets)  # kept: a restarted actor re-reads it
        run = config.run
        self.actors = [remote.options(name=f"gradient-worker-{i}-{os.getpid()}").remote(
            spec, config.policy, config.rl.batch, run.episode_length, targets_ref,
            run.interpreter, run.seed + 1000 * i, max(1, config.torch_threads() // run.workers))
            for i in range(run.workers)]
        self.restarts = 0
        super().__init__([_RayHandle(self, a) for a in self.actors], [config.rl.batch] * run.workers)


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


def fitness(reward: str, window: list[dict]) -> float:
    """A PBT member's fitness (higher is better) from the metrics of its updates since its last
    report (``window``, oldest first):

    * ``reward = "discriminator"``: the critic's score of the member's canvases relative to its
      score of real images, ``mean(d_fake - d_real)``. Each member has its own critic, whose
      raw scores carry an arbitrary offset (a WGAN critic's drifts; docs/results.md), but the
      gap is that critic's estimate of how far the painted images are from the real ones (for
      WGAN-GP, of the Wasserstein-1 distance). It is comparable across members only as far as
      their critics are alike: a member with a weaker critic looks better (docs/results.md,
      "Population-based training").
    * otherwise the batch's ``-mean(mse)``.

    Updates without the figure are left out; ``-inf`` when none has it, so such a member is
    never chosen to be copied."""
    if reward == "discriminator":
        gaps = [m["d_fake"] - m["d_real"] for m in window if "d_fake" in m and "d_real" in m]
    else:
        gaps = [-m["mse"] for m in window if "mse" in m]
    return sum(gaps) / len(gaps) if gaps else float("-inf")


def _pbt_member(config: dict) -> None:
    """One PBT member: train, report its :func:`fitness` every ``interval`` updates with a
    checkpoint."""
    from ray import tune
    # Ray Tune starts a member in its trial folder: relative paths in the config (init_from,
    # teacher, a folder of targets) mean what they meant where `spiral train` ran
    os.chdir(config["cwd"])
    out_dir = Path(tune.get_context().get_trial_dir()) / "run"
    start = tune.get_checkpoint()
    member = TrainConfig.from_flat(config["base"]).replace(
        policy_lr=config["policy_lr"], entropy_coef=config["entropy_coef"], out_dir=str(out_dir),
        progress=False, resume=start is not None)
    out_dir.mkdir(parents=True, exist_ok=True)
    if start is not None:  # exploit (or restore): continue from the given member's weights
        with start.as_directory() as d:
            shutil.copy(Path(d) / "checkpoint.pt", out_dir / "checkpoint.pt")
    window: list[dict] = []

    def report(update, metrics, save):
        window.append(metrics)
        if update % config["interval"] and update != member.rl.updates:
            return False
        save(update)
        figures = {"fitness": fitness(member.rl.reward, window), "update": update,
                   **{k: metrics[k] for k in ("mse", "reward", "d_real", "d_fake", "entropy")
                      if k in metrics}}
        window.clear()
        with tempfile.TemporaryDirectory() as d:
            shutil.copy(out_dir / "checkpoint.pt", Path(d) / "checkpoint.pt")
            tune.report(figures, checkpoint=tune.Checkpoint.from_directory(d))
        return False

    train(member, callback=report)


def run_pbt(config: TrainConfig, population: int = 4, interval: int = 5, address: str | None = None,
            storage: str | None = None):
    """Population-based training of ``population`` members, each reporting its :func:`fitness`
    every ``interval`` updates (exploit and explore happen at reports); returns Ray Tune's
    ResultGrid and writes :data:`PBT_SUMMARY` in ``config.run.out_dir``."""
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
        param_space={"base": base, "interval": interval, "cwd": os.getcwd(),
                     "policy_lr": tune.loguniform(1e-5, 1e-3),
                     "entropy_coef": tune.loguniform(1e-4, 1e-1)},
        tune_config=tune.TuneConfig(scheduler=scheduler, num_samples=population, metric="fitness", mode="max"),
        run_config=tune.RunConfig(name=f"pbt-{run.name}", storage_path=str(Path(storage or run.out_dir).resolve()),
                                  stop={"training_iteration": reports}, verbose=0),
    )
    results = tuner.fit()
    summary = _summary(results, config.rl.reward)
    if summary["best"] is None:   # every member failed before its first report
        first = _last_line(results.errors[0]) if results.errors else "no report"
        raise RunError(f"every PBT member failed; the first: {first}")
    out = Path(run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / PBT_SUMMARY, json.dumps(summary, indent=1) + "\n")
    best = summary["best"]
    print(f"best member: fitness {best['fitness']:.4g} with policy_lr {best['policy_lr']:.2e}, "
          f"entropy_coef {best['entropy_coef']:.2e} ({out / PBT_SUMMARY})", file=sys.stderr)
    return results


def best_member(out_dir) -> Path:
    """The best member's last training checkpoint, from the :data:`PBT_SUMMARY` of the
    population run in ``out_dir``."""
    summary = json.loads((Path(out_dir) / PBT_SUMMARY).read_text())
    return Path(summary["best"]["model"])


def _summary(results, reward: str) -> dict:
    """Each member's last training checkpoint (``model``), last reported figures and
    hyperparameters (after any exploit), and the best member by its last fitness."""
    members = []
    for result in results:
        if result.error is not None or not result.metrics:
            members.append({"error": _last_line(result.error) if result.error else "no report"})
            continue
        # Tune ends a member at its last report, before train() writes model.pt: the last
        # training checkpoint holds the same weights and loads like a model file
        members.append({"model": str(Path(result.path) / "run" / "checkpoint.pt"),
                        "policy_lr": result.config["policy_lr"],
                        "entropy_coef": result.config["entropy_coef"],
                        **{k: result.metrics[k] for k in ("fitness", "update", "mse", "reward",
                                                          "d_real", "d_fake", "entropy")
                           if k in result.metrics}})
    scored = [m for m in members if "fitness" in m]
    best = max(scored, key=lambda m: m["fitness"]) if scored else None
    return {"fitness": "mean(d_fake - d_real)" if reward == "discriminator" else "-mean(mse)",
            "members": members, "best": best}


def _last_line(error: BaseException) -> str:
    """A member's error without Ray's traceback: its last line (the exception and message)."""
    lines = str(error).strip().splitlines()
    return lines[-1] if lines else type(error).__name__
