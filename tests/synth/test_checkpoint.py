"""Malformed checkpoints that load safely are refused before allocation, with a clear error."""
import dataclasses
import json
import time

import pytest
import torch

from synth import checkpoint as ckpt
from synth.limits import CHECKPOINT_CONFIG, LIMITS
from synth.nets import PolicyConfig
from synth.synthesize import default_checkpoint


@pytest.fixture(scope="module")
def record():
    return ckpt.load(default_checkpoint("paint"))


def _with(record, **changes):
    out = dict(record)
    for key, value in changes.items():
        if value is _DROP:
            del out[key]
        else:
            out[key] = value
    return out


_DROP = object()


def _config(record, **changes):
    return json.dumps({**json.loads(record["config"]), **changes})


def _settings(record, **changes):
    return json.dumps({**json.loads(record["settings"]), **changes})


def _weights(record, **changes):
    weights = dict(record["weights"])
    for key, value in changes.items():
        if value is _DROP:
            del weights[key]
        else:
            weights[key] = value
    return weights


def _save(tmp_path, obj):
    path = tmp_path / "bad.pt"
    torch.save(obj, path)
    return path


def test_the_shipped_checkpoints_validate(record):
    spec, config, info = ckpt.validate_record(record)
    assert spec.domain == "paint" and config.spatial and "command" in info
    ckpt.load_model(default_checkpoint("scene"))


BAD = {
    "not a dict": (lambda r: [1, 2, 3], "is not a spiral-dsl policy file"),
    "no weights": (lambda r: _with(r, weights=_DROP), "has no 'weights' field"),
    "config not text": (lambda r: _with(r, config={"channels": 32}), "'config' is a dict, expected a str"),
    "config not JSON": (lambda r: _with(r, config="{channels"), "'config' is not valid JSON"),
    "config a list": (lambda r: _with(r, config="[1]"), "'config' must be a JSON object, not list"),
    "version 2": (lambda r: _with(r, version=2), "format version 2"),
    "version bool": (lambda r: _with(r, version=True), "'version' is a bool"),
    "unknown domain": (lambda r: _with(r, domain="sky"), "domain 'sky' is not one of"),
    "channels=100000": (lambda r: _with(r, config=_config(r, channels=100000)),
                        r"config channels=100000 is out of range; valid: 1\.\.256"),
    "hidden as text": (lambda r: _with(r, config=_config(r, hidden="256")),
                       r"config hidden='256' must be an integer in 1\.\.4096"),
    "spatial as int": (lambda r: _with(r, config=_config(r, spatial=1)),
                       "config spatial=1 must be true or false"),
    "unknown field": (lambda r: _with(r, config=_config(r, depth=3)), r"unknown config field\(s\) \['depth'\]"),
    "grid=100000": (lambda r: _with(r, settings=_settings(r, grid=100000)),
                    r"setting grid=100000 is out of range; valid: 1\.\.256"),
    "canvas as float": (lambda r: _with(r, settings=_settings(r, canvas=64.0)),
                        "setting canvas=64.0 must be an integer"),
    "unknown setting": (lambda r: _with(r, settings=_settings(r, objects=3)), r"unknown paint setting\(s\) \['objects'\]"),
    "bad colour": (lambda r: _with(r, settings=_settings(r, background={"colour": 1})), "invalid settings"),
    "other order": (lambda r: _with(r, order=["end", "flag"]), "action order"),
    "too many parameters": (lambda r: _with(r, config=_config(r, channels=256, hidden=4096)),
                            f"more than the limit of {LIMITS.model_parameters:,}"),
    "weights for another config": (lambda r: _with(r, config=_config(r, channels=16)),
                                   r"weight 'encoder.0.weight' has shape \(32, 6, (\d), \1\); the config describes \(16, 6, \1, \1\)"),
    "missing weight": (lambda r: _with(r, weights=_weights(r, **{"value_head.bias": _DROP})),
                       r"missing \['value_head.bias'\]"),
    "extra weight": (lambda r: _with(r, weights=_weights(r, **{"extra.weight": torch.zeros(2)})),
                     r"unexpected \['extra.weight'\]"),
    "weight not a tensor": (lambda r: _with(r, weights=_weights(r, **{"value_head.bias": [0.0]})),
                            "weight 'value_head.bias' is a list, not a tensor"),
    "NaN weight": (lambda r: _with(r, weights=_weights(r, **{"value_head.bias": torch.tensor([float("nan")])})),
                   "weight 'value_head.bias' is not finite"),
    "integer weight": (lambda r: _with(r, weights=_weights(r, **{"value_head.bias": torch.tensor([1])})),
                       "not finite floating point"),
    "training checkpoint with a bad model": (lambda r: {"model": _with(r, info="[]"), "update": 3},
                                             "'info' must be a JSON object"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_checkpoints_are_clear_errors(tmp_path, record, case):
    make, match = BAD[case]
    path = _save(tmp_path, make(record))
    t0 = time.perf_counter()
    with pytest.raises(ckpt.CheckpointError, match=match) as info:
        ckpt.load_model(path)
    assert str(path) in str(info.value) or "not a spiral-dsl" in str(info.value)
    assert time.perf_counter() - t0 < 5  # validated before allocating (was 640 GB / 35 s)


def test_every_config_field_has_a_rule():
    """A new PolicyConfig field needs one line in synth.limits.CHECKPOINT_CONFIG."""
    fields = {f.name for f in dataclasses.fields(PolicyConfig)}
    assert fields == set(CHECKPOINT_CONFIG), fields ^ set(CHECKPOINT_CONFIG)
    for name, rule in CHECKPOINT_CONFIG.items():  # every default satisfies its own rule
        assert rule.problem(getattr(PolicyConfig(), name)) is None, name


def test_older_checkpoints_without_a_field_take_the_default(tmp_path, record):
    config = json.loads(record["config"])
    del config["residual_blocks"]  # the default (2) is what the weights were trained with
    path = _save(tmp_path, _with(record, config=json.dumps(config)))
    policy, _ = ckpt.load_model(path)
    assert policy.config.residual_blocks == PolicyConfig().residual_blocks
