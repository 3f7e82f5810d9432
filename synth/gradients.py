"""Data-parallel A2C: workers share each update, each back-propagating its part of the batch.

On a CPU the policy network is nearly all of an update (docs/scaling.md), and one process keeps
one core busy: a second torch thread gave the lean network nothing at batch 256. Splitting the
batch over processes that each roll out *and* back-propagate their share uses every core and
keeps the single forward pass (a worker back-propagates through its own rollout's graph).

* :class:`GradientWorker` — a :class:`~synth.roles.RolloutWorker` that keeps its rollout's graph
  and, given that batch's reward, returns the gradient of its share of the A2C loss. A plain
  class: :class:`ProcessWorker` runs it in a child process, :mod:`synth.distributed` as a Ray
  actor.
* :class:`ProcessWorker` — a :class:`GradientWorker` in a child process (``spawn``), called
  through a pipe; tensors cross in shared memory.
* :class:`GradientPool` — the learner's side of one update, :meth:`GradientPool.update`:

  1. every remote worker gets the learner's weights and version and rolls out its episodes
     (all at once; the local shard, when there is one, rolls out meanwhile with the learner's
     own policy, keeping its graph);
  2. the trajectories are joined and the reward is computed once, on the whole batch (the
     critic, its running normalisation and SPIRAL's penalties see what one process would see);
  3. each shard gets its slice of the reward and back-propagates its A2C loss
     (:func:`synth.roles.a2c_loss`, a mean over its episodes);
  4. the learner's ``.grad`` becomes the average of the shards' gradients weighted by their
     episodes — the gradient of the whole batch's loss — then one clipped optimiser step.

  With ``run.shards = 2`` the embedded loop runs the learner's process and one child process,
  one torch thread each; the update is the one of a single process with the whole batch
  (``tests/synth/test_gradients.py`` compares the gradients), only the sampled episodes differ
  (each shard has its own seed). A remote worker lost during its backward pass (a Ray actor
  that died) leaves its share out of that one update (``lost_shards`` in the metrics); one lost
  during its rollout is called again, with the weights.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from multiprocessing.connection import wait

import numpy as np
import torch

from .errors import RunError
from .roles import PolicyLearner, RolloutWorker, Trajectory, a2c_loss

__all__ = ["GradientWorker", "ProcessWorker", "GradientPool", "ShardLost", "local_pool",
           "shard_gradient", "flat_gradients", "add_flat_gradients"]


class ShardLost(Exception):
    """A remote worker died during its backward pass: its share of this update is gone."""


def flat_gradients(module: torch.nn.Module) -> torch.Tensor:
    """Every parameter's gradient (zeros where there is none) as one float32 vector, in
    ``parameters()`` order: one buffer to ship instead of one per tensor."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                      for p in module.parameters()])


def add_flat_gradients(module: torch.nn.Module, flat: torch.Tensor, weight: float) -> None:
    """``p.grad += weight · flat[p's slice]`` for every parameter (``.grad`` created as needed)."""
    params = list(module.parameters())
    total = sum(p.numel() for p in params)
    if total != flat.numel():
        raise RunError(f"a gradient of {flat.numel()} values does not fit a policy of "
                       f"{total} parameters")
    offset = 0
    for p in params:
        n = p.numel()
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        p.grad.add_(flat[offset:offset + n].view(p.shape).to(p.device), alpha=weight)
        offset += n


def shard_gradient(policy: torch.nn.Module, trajectory: Trajectory, reward: torch.Tensor,
                   hyper: dict) -> tuple[torch.Tensor, dict]:
    """Back-propagate :func:`synth.roles.a2c_loss` of ``trajectory`` — sampled by ``policy``
    with its graph kept (``trajectory.scores``) — with ``reward`` and ``hyper`` (its keyword
    arguments) and return the flat gradient and the loss's parts, as floats (the loss is their
    weighted sum). The policy's ``.grad`` is left empty."""
    scores = trajectory.scores
    loss, parts = a2c_loss(scores.log_prob, scores.entropy, scores.value,
                           reward.to(scores.log_prob.device), **hyper)
    policy.zero_grad(set_to_none=True)
    loss.backward()
    flat = flat_gradients(policy)
    policy.zero_grad(set_to_none=True)
    return flat, {k: v.item() for k, v in parts.items()}


class GradientWorker:
    """Rolls out ``batch`` episodes with its policy copy and returns its share of the gradient.

    ``rollout(weights, version)`` loads the weights (when given) and samples a batch, keeping the
    autograd graph of its scores; it returns the trajectory without them (what another process
    can receive). ``gradients(reward, hyper)`` back-propagates :func:`synth.roles.a2c_loss` of
    that batch with ``reward`` (its slice of the batch's reward) and returns the flat gradient
    (:func:`flat_gradients`) and the loss's parts; the graph is released. ``hyper``: the
    learner's ``discount``, ``value_coef``, ``entropy_coef`` and ``value_only``."""

    def __init__(self, spec, policy_config, batch: int, episode_length: int, targets,
                 interpreter: str | None = None, seed: int = 0, threads: int | None = None,
                 device: str = "cpu"):
        self.worker = RolloutWorker(spec, policy_config, batch, episode_length, targets,
                                    interpreter, seed=seed, threads=threads, device=device)
        self._kept: Trajectory | None = None

    def set_weights(self, weights: dict, version: int) -> None:
        self.worker.set_weights(weights, version)

    def rollout(self, weights: dict | None = None, version: int | None = None) -> Trajectory:
        if weights is not None:
            self.worker.set_weights(weights, version if version is not None else self.worker.version)
        self._kept = self.worker.rollout(policy=self.worker.policy)
        return self._kept.without_scores()

    def gradients(self, reward: torch.Tensor, hyper: dict) -> tuple[torch.Tensor, dict]:
        if self._kept is None:
            raise RunError("gradients() before rollout(): this worker holds no batch")
        kept, self._kept = self._kept, None
        flat, parts = shard_gradient(self.worker.policy, kept, reward, hyper)
        return flat.cpu(), parts

    def close(self) -> None:
        self.worker.env.close()


class _Shared:
    """A numpy array moved to shared memory for a child's constructor arguments: it pickles
    as a handle, not as its bytes (see :class:`ProcessWorker`)."""

    def __init__(self, array: np.ndarray):
        self.tensor = torch.from_numpy(np.ascontiguousarray(array)).share_memory_()

    @staticmethod
    def wrap(value):
        return _Shared(value) if isinstance(value, np.ndarray) else value

    @staticmethod
    def unwrap(value):
        return value.tensor.numpy() if isinstance(value, _Shared) else value


def _serve(conn, args: tuple, kwargs: dict) -> None:
    """A child process's loop: build the worker, then answer ``(method, args)`` calls until
    ``None``. A failure is answered with its traceback (the parent raises it as a
    :class:`RunError`)."""
    try:
        args = tuple(_Shared.unwrap(a) for a in args)
        kwargs = {k: _Shared.unwrap(v) for k, v in kwargs.items()}
        worker = GradientWorker(*args, **kwargs)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ok", None))
    while True:
        try:
            call = conn.recv()
        except EOFError:           # the parent is gone
            break
        if call is None:
            break
        name, call_args = call
        try:
            conn.send(("ok", getattr(worker, name)(*call_args)))
        except BaseException:
            conn.send(("error", traceback.format_exc()))
    worker.close()


class ProcessWorker:
    """A :class:`GradientWorker` in a child process (``spawn``: a fresh interpreter, nothing
    inherited but the environment), one torch thread unless ``threads`` says otherwise.

    ``call(name, *args)`` sends a method call and returns at once; ``result()`` waits for the
    answer of the oldest call not yet collected (calls are answered in order). A failure in the
    child, or its death, raises :class:`RunError` with what is known."""

    def __init__(self, *args, name: str = "gradient-worker", **kwargs):
        import torch.multiprocessing  # noqa: F401  (registers shared-memory pickling of tensors)
        ctx = mp.get_context("spawn")
        kwargs.setdefault("threads", 1)
        # read by the child's OpenMP when torch loads there: idle threads sleep instead of
        # spinning against the learner's threads (the parent's torch is already loaded)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self.name = name
        self._conn, child = ctx.Pipe()
        # arrays (the targets: tens of MB) travel as shared memory: spawn writes the arguments
        # into a pipe whose reading end it keeps open until the write ends, so a child that
        # dies before reading a large argument would block this process for ever
        args = tuple(_Shared.wrap(a) for a in args)
        kwargs = {k: _Shared.wrap(v) for k, v in kwargs.items()}
        self._process = ctx.Process(target=_serve, args=(child, args, kwargs), name=name, daemon=True)
        self._process.start()
        child.close()
        # a child that dies before it answers at all most often ran the caller's main script
        # again (spawn imports it) and failed there
        self._hint = (": it may have run the main script again (multiprocessing's spawn imports "
                      "it in every worker); guard the script that calls train() with "
                      "`if __name__ == \"__main__\":`")
        self._receive()            # the worker is built (or its error is raised here)
        self._hint = ""

    def call(self, name: str, *args) -> None:
        self._conn.send((name, args))

    def result(self):
        return self._receive()

    def _receive(self):
        try:
            # wait for an answer or the child's exit: a child that dies before it unpickles its
            # end of the pipe leaves a copy of that end open in this process (multiprocessing's
            # fd sharer), so its death alone would never end a plain recv()
            wait([self._conn, self._process.sentinel])
            if not self._conn.poll():
                raise EOFError
            status, value = self._conn.recv()
        except (EOFError, ConnectionError, OSError):
            self._process.join(5)
            raise RunError(f"{self.name} (pid {self._process.pid}) died (exit code "
                           f"{self._process.exitcode}){self._hint}") from None
        if status == "error":
            raise RunError(f"{self.name} failed:\n{value}")
        return value

    def close(self) -> None:
        if self._process.is_alive():
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._process.join(10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5)
        self._conn.close()


class GradientPool:
    """Workers that share each A2C update (see the module docstring).

    ``remotes``: handles with ``call(name, *args)`` and ``result()`` (:class:`ProcessWorker`, or
    :mod:`synth.distributed`'s Ray handles), each running a :class:`GradientWorker`; ``local``:
    a :class:`~synth.roles.RolloutWorker` in the learner's process that samples with the
    learner's policy (``None``: the learner only averages). ``sizes``: episodes per remote."""

    def __init__(self, remotes: list, sizes: list[int], local: RolloutWorker | None = None):
        if len(remotes) != len(sizes):
            raise ValueError(f"{len(remotes)} remote workers but {len(sizes)} sizes")
        if not remotes and local is None:
            raise ValueError("a gradient pool needs at least one worker")
        self.remotes, self.sizes, self.local = list(remotes), list(sizes), local

    def update(self, learner: PolicyLearner, reward_of, value_only: bool = False):
        """One synchronous A2C step over every shard. ``reward_of(trajectory)`` returns
        ``(reward, metrics)`` for the joined batch (:func:`synth.train.rewards`). Returns the
        joined trajectory, its reward, the reward's metrics and the update's metrics."""
        weights = learner.get_weights() if self.remotes else None
        for r in self.remotes:
            r.call("rollout", weights, learner.version)
        shards = []
        if self.local is not None:
            shards.append(self.local.rollout(policy=learner.policy))
        shards += [r.result() for r in self.remotes]
        joined = _join([s.without_scores() for s in shards]).to(learner.device)
        reward, reward_metrics = reward_of(joined)
        hyper = {"discount": learner.discount, "value_coef": learner.value_coef,
                 "entropy_coef": learner.entropy_coef, "value_only": value_only}
        sizes = ([self.local.env.batch] if self.local is not None else []) + self.sizes
        slices = np.cumsum([0] + sizes)
        pieces = [_slice(reward, int(a), int(b)) for a, b in zip(slices[:-1], slices[1:])]
        remote_pieces = pieces[1:] if self.local is not None else pieces
        for r, piece in zip(self.remotes, remote_pieces):
            r.call("gradients", piece.cpu(), hyper)
        done = []                                   # (flat gradient, parts, episodes) per shard
        if self.local is not None:
            done.append((*shard_gradient(learner.policy, shards[0], pieces[0], hyper), sizes[0]))
        lost = 0
        for r, size in zip(self.remotes, self.sizes):
            try:
                done.append((*r.result(), size))
            except ShardLost:
                lost += 1
        if not done:
            raise RunError(f"all {lost} workers were lost during their backward pass: no "
                           "gradient for this update")
        total = float(sum(size for _, _, size in done))
        learner.opt.zero_grad(set_to_none=True)     # .grad becomes the weighted average alone
        for flat, _, size in done:
            add_flat_gradients(learner.policy, flat, size / total)
        metrics = {k: sum(parts[k] * size for _, parts, size in done) / total for k in done[0][1]}
        value_loss = learner.value_coef * metrics["value_loss"]
        metrics["loss"] = value_loss if value_only else (
            metrics["policy_loss"] + value_loss - learner.entropy_coef * metrics["entropy"])
        metrics.update(learner.step(value_only))
        if lost:
            metrics["lost_shards"] = lost
        return joined, reward, reward_metrics, metrics

    def close(self) -> None:
        for r in self.remotes:
            r.close()
        if self.local is not None:
            self.local.env.close()


def _slice(reward: torch.Tensor, a: int, b: int) -> torch.Tensor:
    """Episodes ``a:b`` of a (B,) or (T, B) reward."""
    return reward[a:b] if reward.dim() == 1 else reward[:, a:b]


def _join(parts: list[Trajectory]) -> Trajectory:
    """One trajectory of every part's episodes, in order (the parts share a policy version)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return Trajectory(torch.cat([p.canvases for p in parts], 1), torch.cat([p.targets for p in parts]),
                      {s: torch.cat([p.actions[s] for p in parts], 1) for s in first.actions},
                      torch.cat([p.new_sequences for p in parts]), torch.cat([p.blank for p in parts]),
                      first.policy_version)


def local_pool(config, spec, targets) -> GradientPool:
    """The embedded pool of ``run.shards`` shards: this process (with the learner's policy) and
    ``shards - 1`` child processes, each ``batch / shards`` episodes, one torch thread each."""
    run = config.run
    shards = run.shards
    per = config.rl.batch // shards
    local = RolloutWorker(spec, config.policy, per, run.episode_length, targets, run.interpreter,
                          seed=run.seed)
    remotes = []
    try:
        for i in range(1, shards):
            remotes.append(ProcessWorker(spec, config.policy, per, run.episode_length, targets,
                                         run.interpreter, seed=run.seed + 1000 * i, threads=1,
                                         name=f"gradient-worker-{i}"))
    except BaseException:
        for r in remotes:
            r.close()
        local.env.close()
        raise
    return GradientPool(remotes, [per] * len(remotes), local)
