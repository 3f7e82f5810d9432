"""Checkpoints: written atomically, loaded without executing pickled code.

A *training* checkpoint (``.pt``) holds everything ``--resume`` needs; a *model* file holds
only the policy weights and the JSON-able description needed to rebuild the policy, and is
what ships with the package and what ``synthesize`` loads. Both are read with
``torch.load(weights_only=True)``: tensors, numbers, strings, lists and dicts only.
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
from dataclasses import asdict
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplError
from spiral_dsl.io import write_atomic
from spiral_dsl.settings import DEFAULTS

from .limits import CHECKPOINT_CONFIG, CHECKPOINT_SETTINGS, LIMITS
from .nets import Policy, PolicyConfig

__all__ = ["save_atomic", "load", "save_model", "load_model", "validate_record", "CheckpointError"]


class CheckpointError(SplError):
    """A checkpoint that is missing, corrupt or for another model."""


def save_atomic(obj, path) -> None:
    """``torch.save`` through :func:`spiral_dsl.io.write_atomic` (a temporary file, ``fsync``,
    a rename; parent folders created): a crash never leaves half a file."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_atomic(path, buf.getvalue())


def load(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file or pickled code: refuse either way
        raise CheckpointError(f"cannot load checkpoint {path} safely: {e}") from None


def model_record(policy: Policy, **info) -> dict:
    return {"format": "spiral-dsl-policy", "version": 1, "domain": policy.spec.domain,
            "settings": json.dumps(_jsonable(dict(policy.spec.settings))),
            "order": list(policy.spec.order), "config": json.dumps(asdict(policy.config)),
            "info": json.dumps(info), "weights": {k: v.detach().cpu().clone() for k, v in policy.state_dict().items()}}


def save_model(policy: Policy, path, **info) -> None:
    """Write the weights-only model file (what ships and what ``synthesize`` loads)."""
    save_atomic(model_record(policy, **info), path)


def load_model(path) -> tuple[Policy, dict]:
    """Rebuild the policy from a model file (or from a training checkpoint's ``model``).

    The record is validated before anything is allocated (:func:`validate_record`): a
    malformed or oversized checkpoint is a :class:`CheckpointError` naming the field, its
    value and the valid range, never a KeyError or a 640 GB allocation."""
    record = load(path)
    if isinstance(record, dict) and "model" in record:
        record = record["model"]
    spec, config, info = validate_record(record, path)
    policy = network_class(config)(spec, config)
    policy.load_state_dict(record["weights"])
    policy.eval()
    return policy, info


class _SkipInit(TorchFunctionMode):
    """Make in-place ops on meta tensors (``init.normal_``, ``uniform_``...) no-ops: a meta
    tensor has no values to initialise, and some of those ops decompose through
    ``torch._dynamo`` (a 3-5 s import) on the meta device."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name.endswith("_") and not name.endswith("__"):
            first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
            if first is not None and first.is_meta:
                return first
        return func(*args, **kwargs)


_RECORD_KEYS = {"format": str, "version": int, "domain": str, "settings": str, "order": list,
                "config": str, "info": str, "weights": dict}


def _json_object(record: dict, key: str, path) -> dict:
    try:
        value = json.loads(record[key])
    except ValueError as e:
        raise CheckpointError(f"checkpoint {path}: {key!r} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"checkpoint {path}: {key!r} must be a JSON object, "
                              f"not {type(value).__name__}")
    return value


def _check_rules(values: dict, rules, what: str, path) -> None:
    for key, value in values.items():
        rule = rules.get(key)
        problem = rule.problem(value) if rule else None
        if problem:
            raise CheckpointError(f"checkpoint {path}: {what} {key}={value!r} {problem} "
                                  f"(synth.limits)")


def network_class(config: PolicyConfig) -> type:
    """The network a config describes: :class:`synth.scene_net.ScenePolicy` for
    ``arch = "scene"``, else :class:`synth.nets.Policy`."""
    if config.arch == "scene":
        from .scene_net import ScenePolicy
        return ScenePolicy
    return Policy


def validate_record(record, path="<record>") -> tuple[ActionSpec, PolicyConfig, dict]:
    """Check a model record and return its action spec, config and info, allocating nothing
    the size of the model: keys and types; config fields against
    :data:`synth.limits.CHECKPOINT_CONFIG`; settings against
    :data:`~synth.limits.CHECKPOINT_SETTINGS`; then the policy the config describes is built on
    PyTorch's meta device (shapes only) to bound its parameter count
    (``LIMITS.model_parameters``) and to match every weight's name, shape and finiteness."""
    if not isinstance(record, dict) or record.get("format") != "spiral-dsl-policy":
        raise CheckpointError(f"{path} is not a spiral-dsl policy file")
    for key, kind in _RECORD_KEYS.items():
        if key not in record:
            raise CheckpointError(f"checkpoint {path} has no {key!r} field")
        if not isinstance(record[key], kind) or isinstance(record[key], bool):
            raise CheckpointError(f"checkpoint {path}: {key!r} is a {type(record[key]).__name__}, "
                                  f"expected a {kind.__name__}")
    if record["version"] != 1:
        raise CheckpointError(f"checkpoint {path} has format version {record['version']}; this "
                              "spiral-dsl reads version 1")
    domain = record["domain"]
    if domain not in DEFAULTS:
        raise CheckpointError(f"checkpoint {path}: domain {domain!r} is not one of {list(DEFAULTS)}")

    config_values = _json_object(record, "config", path)
    fields = {f.name for f in dataclasses.fields(PolicyConfig)}
    unknown = sorted(set(config_values) - fields)
    if unknown:
        raise CheckpointError(f"checkpoint {path}: unknown config field(s) {unknown}; known: "
                              f"{sorted(fields)} (a checkpoint from a newer spiral-dsl?)")
    _check_rules(config_values, CHECKPOINT_CONFIG, "config", path)
    config = PolicyConfig(**config_values)

    raw_settings = _json_object(record, "settings", path)
    unknown = sorted(set(raw_settings) - set(DEFAULTS[domain]))
    if unknown:
        raise CheckpointError(f"checkpoint {path}: unknown {domain} setting(s) {unknown}; "
                              f"known: {sorted(DEFAULTS[domain])}")
    _check_rules(raw_settings, CHECKPOINT_SETTINGS, "setting", path)
    try:
        settings = _from_jsonable(raw_settings)
        spec = ActionSpec.for_domain(domain, settings)
    except SplError as e:
        raise CheckpointError(f"checkpoint {path}: invalid settings: {e.message}") from None
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path}: invalid settings {raw_settings}: {e}") from None
    if record["order"] != list(spec.order):
        raise CheckpointError(f"checkpoint {path}: action order {record['order']!r} is not this "
                              f"spiral-dsl's {list(spec.order)!r} for {domain}")
    info = _json_object(record, "info", path)
    if config.arch == "scene" and domain != "scene":
        raise CheckpointError(f"checkpoint {path}: arch 'scene' draws scenes, not {domain!r}")

    with torch.device("meta"), _SkipInit():  # shapes, no storage: a 640 GB config costs nothing
        net = network_class(config)(spec, config)
        expected = {k: v.shape for k, v in net.state_dict().items()}
    parameters = sum(math.prod(shape) for shape in expected.values())
    if parameters > LIMITS.model_parameters:
        raise CheckpointError(f"checkpoint {path}: its config {config_values} describes a policy "
                              f"of {parameters:,} parameters, more than the limit of "
                              f"{LIMITS.model_parameters:,} (synth.limits.LIMITS.model_parameters)")
    weights = record["weights"]
    missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or extra:
        raise CheckpointError(f"checkpoint {path}: weights do not match the policy its config "
                              f"describes (missing {missing[:5]}, unexpected {extra[:5]})")
    for name, shape in expected.items():
        tensor = weights[name]
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"checkpoint {path}: weight {name!r} is a "
                                  f"{type(tensor).__name__}, not a tensor")
        if tensor.shape != shape:
            raise CheckpointError(f"checkpoint {path}: weight {name!r} has shape "
                                  f"{tuple(tensor.shape)}; the config describes {tuple(shape)}")
        if not (tensor.is_floating_point() and torch.isfinite(tensor).all()):
            raise CheckpointError(f"checkpoint {path}: weight {name!r} is not finite floating "
                                  f"point ({tensor.dtype})")
    return spec, config, info


def _jsonable(settings: dict) -> dict:
    out = {}
    for k, v in settings.items():
        out[k] = {"color": list(v)} if hasattr(v, "r") else v
    return out


def _from_jsonable(settings: dict) -> dict:
    from spiral_dsl.ast import Color
    return {k: Color(*v["color"]) if isinstance(v, dict) else v for k, v in settings.items()}
