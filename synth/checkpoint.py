"""Checkpoints: written atomically, loaded without executing pickled code.

A *training* checkpoint (``.pt``) holds everything ``--resume`` needs; a *model* file holds
only the policy weights and the JSON-able description needed to rebuild the policy, and is
what ships with the package and what ``synthesize`` loads. Both are read with
``torch.load(weights_only=True)``: tensors, numbers, strings, lists and dicts only.
"""
from __future__ import annotations

import io
import json
from dataclasses import asdict
from pathlib import Path

import torch

from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplError
from spiral_dsl.io import write_atomic

from .nets import Policy, PolicyConfig

__all__ = ["save_atomic", "load", "save_model", "load_model", "CheckpointError"]


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
    """Rebuild the policy from a model file (or from a training checkpoint's ``model``)."""
    record = load(path)
    if "model" in record:
        record = record["model"]
    if record.get("format") != "spiral-dsl-policy":
        raise CheckpointError(f"{path} is not a spiral-dsl policy file")
    settings = _from_jsonable(json.loads(record["settings"]))
    spec = ActionSpec.for_domain(record["domain"], settings)
    policy = Policy(spec, PolicyConfig(**json.loads(record["config"])))
    policy.load_state_dict(record["weights"])
    policy.eval()
    return policy, json.loads(record["info"])


def _jsonable(settings: dict) -> dict:
    out = {}
    for k, v in settings.items():
        out[k] = {"color": list(v)} if hasattr(v, "r") else v
    return out


def _from_jsonable(settings: dict) -> dict:
    from spiral_dsl.ast import Color
    return {k: Color(*v["color"]) if isinstance(v, dict) else v for k, v in settings.items()}
