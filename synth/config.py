"""The training configuration: typed, documented, validated on load.

    spiral train --config configs/mnist.toml [--set key=value ...]

A config file is flat TOML: every key is the name of one field below (``batch = 256``), unique
across the groups, so ``--set batch=4`` needs no group prefix. The groups say which stage
reads a field: :class:`RunConfig` (the run as a whole), :class:`PolicyConfig` (the network),
:class:`RLConfig` (A2C), :class:`CriticConfig` (the discriminator),
:class:`PretrainConfig` (supervised pretraining) and :class:`SearchConfig` (the greedy search
that builds teacher programs). Each field's docstring is its documentation; ``python -m
synth.config`` prints them as the field reference.

:func:`load_config` checks every value against its rule in :data:`RULES` (type, range or
choices) before anything runs: a wrong type, an out-of-range value or an unknown key is one
:class:`~synth.errors.ConfigError` naming the key, the value and what is valid, at the key's
``file:line:col`` when it came from a file (``--set`` values are checked by the same rules).
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from spiral_dsl.actions import ActionSpec
from spiral_dsl.brushes import check_brush_name
from spiral_dsl.errors import SplError

from .errors import ConfigError
from .limits import CHECKPOINT_CONFIG, CHECKPOINT_SETTINGS, Rule
from .toml_file import read_toml

__all__ = ["RunConfig", "PolicyConfig", "RLConfig", "CriticConfig", "PretrainConfig",
           "SearchConfig", "TrainConfig", "RULES", "load_config", "field_docs", "reference"]


@dataclass(frozen=True)
class RunConfig:
    """The run as a whole: task, environment, resources and output."""
    name: str = "mnist"
    """Run name, recorded in checkpoints and model files."""
    domain: str = "paint"
    """``"paint"`` (strokes, libmypaint brushes) or ``"scene"`` (MuJoCo objects)."""
    targets: str = "mnist-train"
    """Training images: a named set (``mnist-train``, ``mnist-eval``), an image folder or an IDX
    file. Scenes draw their own targets (renders of random scenes)."""
    canvas: int = 64
    """Canvas side in pixels (the action space's ``canvas`` setting)."""
    grid: int = 32
    """Location grid side: points are snapped to a ``grid × grid`` lattice."""
    brush: str = "classic/dry_brush"
    """libmypaint brush of the paint domain (a name in the installed brush library)."""
    episode_length: int = 20
    """Steps per episode including the first observation: ``episode_length - 1`` actions."""
    interpreter: str = "raster"
    """Renderer of training rollouts: ``"raster"`` (batched, torch), ``"mypaint"`` or
    ``"mujoco"`` (scenes)."""
    workers: int = 1
    """Rollout workers (Ray actors with ``--ray``, else in this process)."""
    shards: int = 1
    """Processes on this machine that share each A2C update (:mod:`synth.gradients`): this one
    and ``shards - 1`` children, each rolling out ``batch / shards`` episodes and
    back-propagating its part, one torch thread each; the learner averages the gradients (the
    same update as one process with the whole batch). 2 uses both cores of a 2-core machine.
    Needs ``workers = 1``, a ``batch`` divisible by it and the CPU. The learner's own shard
    then runs on one thread whatever ``threads`` says (more oversubscribed the cores).
    Pretraining, which does not shard, runs on at least this many torch threads instead."""
    seed: int = 0
    """Seed of torch, numpy and Python's ``random`` (same seed, same run)."""
    threads: int = 0
    """Torch threads of the learner; 0: every core but one (at least 1), leaving a core for
    the rest of the machine. With ``shards > 1`` the RL stage runs on one thread per shard
    and this sets pretraining's threads only. Restored when training returns."""
    device: str = "cpu"
    """``"cpu"``, ``"cuda"`` or ``"auto"`` (cuda when torch sees a GPU)."""
    out_dir: str = "runs/mnist"
    """Folder of checkpoints, metrics and the model; one run at a time (a lock file)."""
    resume: bool = False
    """Continue the run in ``out_dir`` (pretraining or RL, wherever it stopped); ``spiral
    train`` stops with an error when ``out_dir`` holds nothing to resume (``train()`` and
    ``pretrain()`` called from Python start afresh then)."""
    init_from: str = ""
    """Model file to start from (a ``synth.pretrain`` output); empty: random weights."""
    checkpoint_every: int = 50
    """Updates between checkpoints (a kill loses at most this many)."""
    log_every: int = 10
    """Updates between progress lines on stderr."""
    grid_every: int = 0
    """Every this many RL updates, the batch's first 16 final canvases (each beside its target
    when conditional) go to ``<out_dir>/grids/update_NNNNNN.png`` and that update's metrics
    line names the file (:mod:`synth.grids`); 0: never."""
    max_seconds: float = 0.0
    """Stop RL after this wall-clock time, with a final checkpoint (0: no limit)."""
    progress: bool = True
    """Print progress on stderr."""


@dataclass(frozen=True)
class PolicyConfig:
    """The policy network's shape (:class:`synth.nets.Policy`); stored in every model file."""
    channels: int = 32
    """Convolution channels of the encoder."""
    hidden: int = 256
    """Width of the LSTM core and the decoder."""
    residual_blocks: int = 2
    """Residual blocks after the encoder's strided convolutions."""
    embed: int = 32
    """Width of each action slot's embedding."""
    conditional: bool = True
    """The policy sees the target image (false: unconditional generation, which needs
    ``reward = "discriminator"``)."""
    spatial: bool = False
    """Location heads read the encoder's feature map (``nets.SpatialLocationHead``)."""
    blind: bool = False
    """SPIRAL's blind agent: the policy never sees the canvas, only the target and its own
    previous actions (needs ``conditional``; arch ``"spiral"`` or ``"lean"``)."""
    arch: str = "spiral"
    """``"spiral"``: SPIRAL's network (every checkpoint written before this field). ``"lean"``:
    the same decoder with a patchifying encoder, bottleneck residual blocks and location logits
    computed at the feature map's resolution (:mod:`synth.lean`), about 4× fewer multiply-adds
    for a CPU. ``"scene"`` (scene domain only): the perception-grade scene policy of
    :mod:`synth.scene_net` (cells read from a world-aligned map, attributes from the chosen
    cell's pixels, a learned stop), trained by :mod:`synth.scene_train`. Checkpoints of one do
    not load into another."""
    precision: str = "float32"
    """Arithmetic of the paint policy's convolutions and linear layers: ``"float32"``, or
    ``"bfloat16"`` (torch's CPU autocast: weights, gradients, Adam, the LSTM cell, the logits'
    normalisation, sampling and the losses stay float32). On a CPU with bfloat16 instructions
    (avx512_bf16 or AMX; this machine's has them) a lean A2C step at batch 128 takes about two
    thirds of the float32 time; elsewhere it is emulated and slower. Stored with the model, so
    a network is run in the arithmetic it was trained in. Not for ``arch = "scene"``."""


@dataclass(frozen=True)
class RLConfig:
    """A2C: rollouts, rewards and the policy update."""
    batch: int = 32
    """Episodes per worker per update."""
    updates: int = 1000
    """RL updates (0: no RL; the model is the pretrained policy)."""
    policy_lr: float = 1e-4
    """Adam learning rate of the policy."""
    entropy_coef: float = 0.01
    """Weight of the entropy bonus."""
    value_coef: float = 0.5
    """Weight of the value baseline's loss."""
    discount: float = 0.99
    """Discount of future rewards."""
    reward: str = "mse"
    """``"mse"`` (minus the MSE to the target) or ``"discriminator"`` (the critic's score)."""
    reward_scale: float = 10.0
    """Factor applied to the final reward."""
    stroke_penalty: float = 0.0
    """Reward added per new stroke sequence (SPIRAL's penalty; usually <= 0)."""
    blank_penalty: float = 0.0
    """Reward added for a blank final canvas (usually <= 0)."""
    value_warmup: int = 0
    """The first updates train only the value baseline."""
    reward_norm: str = "none"
    """Standardise the critic's value by running statistics before ``reward_scale``:
    ``"none"`` (raw values), ``"running"`` (mean and deviation of every final-canvas value so
    far, Welford) or ``"ema"`` (exponential moving averages with ``reward_norm_decay``, which
    follow a drifting critic). The statistics are saved in the training checkpoint."""
    reward_norm_decay: float = 0.99
    """Decay per batch of ``reward_norm = "ema"``'s moving averages."""
    temporal_credit: bool = False
    """SPIRAL++'s temporal credit assignment: the critic scores every intermediate canvas and
    step t is rewarded ``R(c_{t+1}) − R(c_t)`` (the sum over an episode is ``R(final) −
    R(blank)``) instead of ``R(final)`` at the last step only. Discriminator reward only."""


@dataclass(frozen=True)
class CriticConfig:
    """The discriminator, or critic (used when ``reward = "discriminator"``)."""
    d_lr: float = 1e-4
    """Adam learning rate of the discriminator."""
    d_batch: int = 64
    """Pairs per discriminator update."""
    d_steps: int = 1
    """Discriminator updates per policy update."""
    replay_batches: int = 20
    """Final canvases of this many recent batches are replayed to the discriminator."""
    critic_loss: str = "wgan-gp"
    """The critic's objective: ``"wgan-gp"`` (Wasserstein; reward = score), ``"gan"`` (the
    standard cross-entropy loss, reward = log σ(score), the non-saturating generator
    objective; SPIRAL++ used it with ``spectral_norm``) or ``"hinge"`` (reward = score)."""
    gp_weight: float = 10.0
    """Weight of WGAN-GP's gradient penalty (added to any ``critic_loss``; 0: none, as
    usual with ``spectral_norm``)."""
    spectral_norm: bool = False
    """Spectral normalisation of every critic layer (a critic saved without it does not load
    with it)."""
    critic_ema: float = 0.0
    """Rewards come from an exponential moving average of the critic's weights with this decay
    per critic step (0: from the critic itself). Saved in the training checkpoint."""
    critic_centre: float = 0.0
    """Weight of a penalty on the squared mean score of real images, keeping the critic's
    output centred at zero (0: none). A Wasserstein critic's loss ignores a constant offset,
    so without it the raw score may drift."""
    critic_real: str = "targets"
    """What the critic of an unconditional run takes for real: ``"targets"`` (the training
    images) or ``"teacher"``: the teacher programs' drawings of them (``teacher``, built as for
    pretraining), rendered once on the raster interpreter the policy paints on. Against MNIST's
    pen the critic can tell the policy's brush from real ink whatever is drawn; against the
    same brush, only by what is drawn. Unconditional (``conditional = false``) paint only."""


@dataclass(frozen=True)
class PretrainConfig:
    """Supervised pretraining (behaviour cloning) before RL (:mod:`synth.pretrain`)."""
    pretrain_updates: int = 0
    """Pretraining steps before RL (0: none). Skipped when ``init_from`` is set, unless
    ``distill_init`` or ``spiral train --pretrain N`` asks for it."""
    distill_init: bool = False
    """Pretrain from ``init_from``'s weights instead of skipping pretraining: a round of expert
    iteration, where a trained policy learns the programs its own search found
    (``teacher_search = "beam"``)."""
    pretrain_seconds: float = 0.0
    """Stop pretraining after this wall-clock time (0: no limit)."""
    pretrain_lr: float = 3e-4
    """Adam learning rate of pretraining."""
    pretrain_batch: int = 0
    """Episodes per pretraining step (0: ``batch``)."""
    pretrain_source: str = "random"
    """``"random"`` programs from the DSL's generator, or ``"teacher"``: greedy-search programs
    for the training targets (distillation; paint only)."""
    teacher: str = ""
    """Teacher file (empty: ``<out_dir>/teacher.npz``, built on first use)."""
    pretrain_scenes: int = 50_000
    """``arch = "scene"``: random scenes rendered once for pretraining, each with two partial
    canvases (:mod:`synth.scene_data`)."""


@dataclass(frozen=True)
class SearchConfig:
    """The search that builds teacher programs (:mod:`synth.teacher`)."""
    teacher_search: str = "greedy"
    """``"greedy"``: greedy search (no training needed). ``"beam"``: the policy-guided beam of
    ``teacher_checkpoint``'s policy (expert iteration: the search improves on the policy, and
    the policy is distilled from what it found)."""
    teacher_checkpoint: str = ""
    """``teacher_search = "beam"``: the model file whose policy guides the beam."""
    teacher_expand: int = 16
    """``teacher_search = "beam"``: statements proposed per partial program (the beam keeps 4)."""
    teacher_candidates: int = 128
    """Candidate statements tried per step."""
    teacher_polish: int = 3
    """Rounds of local grid moves polishing each chosen statement."""
    teacher_workers: int = 0
    """Processes building the teacher (0: every core)."""


#: The groups of :class:`TrainConfig`, by attribute name.
GROUPS = MappingProxyType({"run": RunConfig, "policy": PolicyConfig, "rl": RLConfig,
                           "critic": CriticConfig, "pretrain": PretrainConfig,
                           "search": SearchConfig})

_NAME = Rule(str)
#: What every field's value must be (policy fields: the checkpoint rules, so every trained
#: policy can be loaded again). tests/synth/test_config.py checks that every field has one.
RULES = MappingProxyType({
    "name": _NAME, "domain": Rule(str, choices=("paint", "scene")), "targets": _NAME,
    "canvas": CHECKPOINT_SETTINGS["canvas"], "grid": CHECKPOINT_SETTINGS["grid"], "brush": _NAME,
    "episode_length": Rule(int, 2, 1000), "interpreter": Rule(str, choices=("raster", "mypaint", "mujoco")),
    "workers": Rule(int, 1, 1024), "shards": Rule(int, 1, 64), "seed": Rule(int, 0, 2**31 - 1), "threads": Rule(int, 0, 1024),
    "device": Rule(str, choices=("cpu", "cuda", "auto")), "out_dir": Rule(str, 1), "resume": Rule(bool),
    "init_from": _NAME, "checkpoint_every": Rule(int, 1), "log_every": Rule(int, 1),
    "grid_every": Rule(int, 0),
    "max_seconds": Rule(float, 0), "progress": Rule(bool),
    **CHECKPOINT_CONFIG,
    "batch": Rule(int, 1, 65536), "updates": Rule(int, 0), "policy_lr": Rule(float, 0, 1),
    "entropy_coef": Rule(float, 0), "value_coef": Rule(float, 0), "discount": Rule(float, 0, 1),
    "reward": Rule(str, choices=("mse", "discriminator")), "reward_scale": Rule(float),
    "stroke_penalty": Rule(float), "blank_penalty": Rule(float), "value_warmup": Rule(int, 0),
    "reward_norm": Rule(str, choices=("none", "running", "ema")),
    "reward_norm_decay": Rule(float, 0, 0.9999), "temporal_credit": Rule(bool),
    "d_lr": Rule(float, 0, 1), "d_batch": Rule(int, 1, 65536), "d_steps": Rule(int, 1, 1000),
    "replay_batches": Rule(int, 1, 10000),
    "critic_loss": Rule(str, choices=("wgan-gp", "gan", "hinge")), "gp_weight": Rule(float, 0),
    "spectral_norm": Rule(bool), "critic_ema": Rule(float, 0, 0.9999),
    "critic_centre": Rule(float, 0), "critic_real": Rule(str, choices=("targets", "teacher")),
    "pretrain_updates": Rule(int, 0), "pretrain_seconds": Rule(float, 0),
    "pretrain_lr": Rule(float, 0, 1), "pretrain_batch": Rule(int, 0, 65536),
    "distill_init": Rule(bool),
    "pretrain_source": Rule(str, choices=("random", "teacher")), "teacher": _NAME,
    "pretrain_scenes": Rule(int, 1, 200_000),
    "teacher_search": Rule(str, choices=("greedy", "beam")), "teacher_checkpoint": _NAME,
    "teacher_expand": Rule(int, 1, 4096),
    "teacher_candidates": Rule(int, 1, 65536), "teacher_polish": Rule(int, 0, 1000),
    "teacher_workers": Rule(int, 0, 1024),
})

#: the domains each ``interpreter`` draws (the backends' ``domains``, known here without loading
#: them; tests/synth/test_config.py checks the two agree)
INTERPRETER_DOMAINS = MappingProxyType({"raster": ("paint",), "mypaint": ("paint",),
                                        "mujoco": ("scene",)})

#: field name → group name (field names are unique across groups: the TOML is flat).
_GROUP_OF = MappingProxyType({f.name: group for group, cls in GROUPS.items()
                              for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class TrainConfig:
    """A whole training configuration: one frozen group per stage. Build it with
    :func:`load_config`, change it with :meth:`replace` (both validate)."""
    run: RunConfig = field(default_factory=RunConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def flat(self) -> dict:
        """``{key: value}`` over every field (the TOML keys; what ``args.json`` records)."""
        return {k: v for group in GROUPS for k, v in dataclasses.asdict(getattr(self, group)).items()}

    @classmethod
    def from_flat(cls, values: dict, source: str = "config") -> TrainConfig:
        """A config from flat ``{key: value}`` (defaults for the rest), every value checked."""
        for key, value in values.items():
            _check(key, value, source)
        values = {k: float(v) if RULES[k].kind is float else v for k, v in values.items()}
        groups = {g: cls_(**{k: v for k, v in values.items() if _GROUP_OF[k] == g})
                  for g, cls_ in GROUPS.items()}
        return cls(**groups)._cross_checked(source)

    def replace(self, **values) -> TrainConfig:
        """A copy with flat keys changed, checked like a loaded config."""
        return TrainConfig.from_flat({**self.flat(), **values}, source="replace()")

    def _cross_checked(self, source: str) -> TrainConfig:
        """Rules between fields (each single value is already valid)."""
        run, rl = self.run, self.rl
        if self.policy.arch == "scene" and run.domain != "scene":
            raise ConfigError(f"{source}: arch='scene' draws only scenes, not "
                              f"domain={run.domain!r}; use arch='spiral' or 'lean'")
        if self.policy.arch == "scene" and self.policy.precision != "float32":
            raise ConfigError(f"{source}: precision={self.policy.precision!r} is for the paint "
                              "policy; arch='scene' runs in float32")
        if self.search.teacher_search == "beam" and not self.search.teacher_checkpoint:
            raise ConfigError(f"{source}: teacher_search='beam' needs teacher_checkpoint (the "
                              "model file whose policy guides the beam)")
        if self.pretrain.distill_init and not run.init_from:
            raise ConfigError(f"{source}: distill_init=true pretrains from init_from's weights; "
                              "set init_from (a model file)")
        if self.pretrain.pretrain_source == "teacher" and run.domain != "paint":
            raise ConfigError(f"{source}: pretrain_source='teacher' needs domain='paint' (greedy "
                              f"search paints), not domain={run.domain!r}")
        objects = CHECKPOINT_SETTINGS["objects"].high
        if run.domain == "scene" and run.episode_length - 1 > objects:
            raise ConfigError(f"{source}: episode_length={run.episode_length} places "
                              f"{run.episode_length - 1} objects; a scene policy takes at most "
                              f"{objects} (episode_length <= {objects + 1})")
        if run.domain not in INTERPRETER_DOMAINS[run.interpreter]:
            fits = [name for name, domains in INTERPRETER_DOMAINS.items() if run.domain in domains]
            raise ConfigError(f"{source}: interpreter={run.interpreter!r} draws "
                              f"{list(INTERPRETER_DOMAINS[run.interpreter])}, not domain="
                              f"{run.domain!r}; use interpreter = one of {fits}")
        if rl.temporal_credit and rl.reward != "discriminator":
            raise ConfigError(f"{source}: temporal_credit=true needs reward='discriminator' "
                              f"(the critic scores every step), not reward={rl.reward!r}")
        if rl.reward_norm != "none" and rl.reward != "discriminator":
            raise ConfigError(f"{source}: reward_norm={rl.reward_norm!r} normalises the critic's "
                              f"value and needs reward='discriminator', not reward={rl.reward!r}")
        if self.policy.blind and (not self.policy.conditional or self.policy.arch == "scene"):
            raise ConfigError(f"{source}: blind=true (the policy sees the target, not the canvas) "
                              f"needs conditional=true and arch 'spiral' or 'lean', not "
                              f"conditional={str(self.policy.conditional).lower()}, arch={self.policy.arch!r}")
        if self.critic.critic_real == "teacher" and (self.policy.conditional or run.domain != "paint"):
            raise ConfigError(f"{source}: critic_real='teacher' (the critic's real images are the "
                              f"teacher's drawings) needs conditional=false and domain='paint', "
                              f"not conditional={str(self.policy.conditional).lower()}, "
                              f"domain={run.domain!r}")
        if not self.policy.conditional and rl.reward != "discriminator":
            raise ConfigError(f"{source}: conditional=false (unconditional training) needs "
                              f"reward='discriminator', not reward={rl.reward!r}")
        if run.shards > 1:
            if rl.batch % run.shards:
                raise ConfigError(f"{source}: batch={rl.batch} does not split into shards="
                                  f"{run.shards} equal parts; use a batch divisible by {run.shards}")
            if run.workers != 1:
                raise ConfigError(f"{source}: shards={run.shards} needs workers=1 (each shard "
                                  f"is a worker), not workers={run.workers}")
            if run.device == "cuda":
                raise ConfigError(f"{source}: shards={run.shards} splits the work over CPU "
                                  "processes; with device='cuda' use shards=1")
            if self.policy.arch == "scene":
                raise ConfigError(f"{source}: shards={run.shards}: arch='scene' trains by "
                                  "synth.scene_train, which does not shard; use shards=1")
        try:   # the brush and the action space, before a run writes anything
            if run.domain == "paint":
                check_brush_name(run.brush)
            self.spec()
        except SplError as e:
            raise ConfigError(f"{source}: {e}") from None
        if run.device == "cuda":
            import torch
            if not torch.cuda.is_available():
                raise ConfigError(f"{source}: device='cuda' but torch sees no CUDA device; use "
                                  "'cpu' or 'auto'")
        return self

    def spec(self) -> ActionSpec:
        """The action space: the run's domain with its canvas, grid and brush (paint) or
        ``episode_length - 1`` objects (scenes)."""
        run = self.run
        settings = {"canvas": run.canvas, "grid": run.grid}
        if run.domain == "paint":
            settings["brush"] = run.brush
        else:
            settings["objects"] = run.episode_length - 1
        return ActionSpec.for_domain(run.domain, settings)

    def torch_device(self):
        """The ``torch.device`` of ``run.device`` (``auto``: cuda when available)."""
        import torch
        if self.run.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.run.device)

    def teacher_path(self) -> Path:
        """The teacher file: ``pretrain.teacher``, else ``<out_dir>/teacher.npz``."""
        return Path(self.pretrain.teacher or Path(self.run.out_dir) / "teacher.npz")

    def torch_threads(self) -> int:
        """``run.threads``, or every core but one (at least 1) when it is 0."""
        return self.run.threads or max(1, (os.cpu_count() or 1) - 1)


def _check(key: str, value, source: str, where: dict | None = None) -> None:
    """Raise a :class:`ConfigError` unless ``key`` is a field and ``value`` satisfies its rule."""
    where = where or {}
    origin = "" if where.get("line") else f" (in {source})"  # a position names the file
    if key not in RULES:
        close = difflib.get_close_matches(key, list(RULES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        if isinstance(value, dict):
            hint = "; config files are flat: write the keys without a [table]"
        raise ConfigError(f"unknown config key {key!r}{origin}{hint} (python -m synth.config "
                          "lists the keys)", **where)
    problem = RULES[key].problem(value)
    if problem:
        raise ConfigError(f"{key}={value!r} {problem}{origin}", **where)


def _read_toml(path: Path) -> dict:
    """The TOML table of ``path``, each value checked (errors at the key's file:line:col)."""
    values, positions = read_toml(path)
    for key, value in values.items():
        _check(key, value, str(path), positions[key])
    return values


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def parse_override(item: str, source: str | None = None) -> tuple[str, object]:
    """``key=value`` (``--set``) → ``(key, typed value)``, checked against the key's rule.
    The text is read as the field's type: integers, numbers, ``true``/``false``, or the text
    itself for strings. ``source`` names where it came from in a message (default
    ``--set key=value``; e.g. ``--workers 0`` for a command's own option)."""
    key, sep, text = item.partition("=")
    key = key.strip()
    source = source or f"--set {item}"
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected key=value (e.g. --set batch=8)")
    if key not in RULES:
        _check(key, None, source)
    rule = RULES[key]
    try:
        if rule.kind is bool:
            if text.strip().lower() not in _TRUE + _FALSE:
                raise ValueError
            value = text.strip().lower() in _TRUE
        elif rule.kind is int:
            value = int(text.strip())
        elif rule.kind is float:
            value = float(text.strip())
        else:
            value = text
    except ValueError:
        raise ConfigError(f"{key}={text!r} must be {rule.describe()} (in {source})") from None
    _check(key, value, source)
    return key, value


def load_config(path: str | Path | None = None, overrides=()) -> TrainConfig:
    """A :class:`TrainConfig` from a TOML file (``None``: the defaults), then ``key=value``
    overrides (``--set``), every value checked; raises :class:`ConfigError`."""
    values = _read_toml(Path(path)) if path else {}
    source = str(path) if path else "the defaults"
    for item in overrides:
        key, value = parse_override(item)
        values[key] = value
    if overrides:
        source = f"{source} with --set"
    return TrainConfig.from_flat(values, source=source)


def field_docs(cls) -> dict[str, str]:
    """``{field: docstring}`` of a config group, read from this module's source (the string
    literal under each field)."""
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) \
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def reference() -> str:
    """The field reference as Markdown: one table per group (key, default, valid, meaning)."""
    out = []
    for group, cls in GROUPS.items():
        docs = field_docs(cls)
        out += [f"### `{group}`: {cls.__doc__.strip()}", "", "| key | default | valid | meaning |",
                "|---|---|---|---|"]
        for f in dataclasses.fields(cls):
            out.append(f"| `{f.name}` | `{f.default!r}` | {RULES[f.name].describe()} | "
                       f"{docs.get(f.name, '')} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(reference())
