"""The training configuration: every field documented and ruled, every shipped config loads,
each kind of bad input is one clear ConfigError (positioned in the file when it came from one)."""
import dataclasses
from pathlib import Path

import pytest

from spiral_dsl.cli import main as spiral
from spiral_dsl.errors import SplError
from synth.config import (
    GROUPS,
    RULES,
    TrainConfig,
    field_docs,
    load_config,
    parse_override,
    reference,
)
from synth.errors import ConfigError
from synth.limits import CHECKPOINT_CONFIG

ROOT = Path(__file__).resolve().parents[2]
FIELDS = [(group, f) for group, cls in GROUPS.items() for f in dataclasses.fields(cls)]


def test_every_field_has_a_docstring_and_a_rule_its_default_satisfies():
    for group, cls in GROUPS.items():
        docs = field_docs(cls)
        for f in dataclasses.fields(cls):
            assert len(docs.get(f.name, "")) > 10, f"{group}.{f.name} has no docstring"
    names = [f.name for _, f in FIELDS]
    assert len(names) == len(set(names)), "field names must be unique: the TOML is flat"
    assert set(RULES) == set(names), set(RULES) ^ set(names)
    for _, f in FIELDS:
        assert RULES[f.name].problem(f.default) is None, f.name
    # the policy's rules are the checkpoint's: every trained policy loads again
    assert {f.name for f in dataclasses.fields(GROUPS["policy"])} == set(CHECKPOINT_CONFIG)
    assert all(RULES[k] is rule for k, rule in CHECKPOINT_CONFIG.items())


def test_the_reference_lists_every_key():
    text = reference()
    assert all(f"`{f.name}`" in text for _, f in FIELDS)


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    config = load_config(path)
    assert isinstance(config, TrainConfig)
    assert config.spec().domain == config.run.domain


def test_values_are_typed_and_grouped():
    config = load_config(ROOT / "configs" / "mnist.toml")
    assert config.rl.batch == 256 and config.policy.spatial is True
    assert config.pretrain.pretrain_seconds == 330.0 and isinstance(config.pretrain.pretrain_seconds, float)
    assert config.search.teacher_candidates == 128 and config.run.resume is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.rl.batch = 3
    assert config.replace(batch=8).rl.batch == 8 and config.rl.batch == 256


def _write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, line, column, match", [
    ('name = "x"\n  batch = "4"\n', 2, 3, r"batch='4' must be an integer in 1\.\.65536"),
    ('name = "x"\nbatch = 4.5\n', 2, 1, r"batch=4\.5 must be an integer"),
    ('# comment\n\nbatch = 0\n', 3, 1, r"batch=0 is out of range; valid: 1\.\.65536"),
    ("policy_lr = -0.1\n", 1, 1, r"policy_lr=-0\.1 is out of range; valid: 0\.\.1"),
    ("spatial = 1\n", 1, 1, "spatial=1 must be true or false"),
    ('reward = "bogus"\n', 1, 1, r"reward='bogus' must be one of \['mse', 'discriminator'\]"),
    ("name = 'x'\nbatchsize = 8\n", 2, 1, "unknown config key 'batchsize'; did you mean 'batch'"),
    ("name = 'x'\nbatch = = 4\n", 2, 9, "invalid TOML"),
    ("name = 'x'\n\n[rl]\nbatch = 4\n", 3, 1, r"unknown config key 'rl'; config files are flat"),
    ("batch = 4\nbatch = 5\n", 2, 10, "invalid TOML: Cannot overwrite a value"),
    ('out_dir = ""\n', 1, 1, "out_dir='' must be a non-empty string"),   # not the working directory
    (f"max_seconds = 1{'0' * 400}\n", 1, 1, "is too large"),               # not an OverflowError
    (f"updates = 1{'0' * 30}\n", 1, 1, "is too large"),
])
def test_bad_values_in_a_file_are_positioned_errors(tmp_path, text, line, column, match):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path)
    error = info.value
    assert (error.filename, error.line, error.column) == (str(path), line, column)
    assert str(error).startswith(f"{path}:{line}:{column}: ")


def test_cli_reports_config_errors_without_a_traceback(tmp_path, capsys):
    path = _write(tmp_path, "name = 'x'\nbatch = [\n")
    assert spiral(["train", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2:" in err and "invalid TOML" in err and "Traceback" not in err
    assert spiral(["train", "--config", str(tmp_path / "none.toml")]) == 1
    assert f"config file {tmp_path / 'none.toml'} does not exist" in capsys.readouterr().err


def test_a_missing_config_names_the_path_and_the_configs_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    with pytest.raises(ConfigError, match=r"config file tiny.toml does not exist \(did you mean "
                                          r"configs/tiny.toml\?\)"):
        load_config("tiny.toml")
    with pytest.raises(ConfigError, match="is not a file"):
        load_config(tmp_path)
    (tmp_path / "bom.toml").write_bytes(b"\xef\xbb\xbfbatch = 4\n")
    assert load_config(tmp_path / "bom.toml").rl.batch == 4
    (tmp_path / "latin1.toml").write_bytes(b"name = '\xe9'\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(tmp_path / "latin1.toml")


@pytest.mark.parametrize("item, match", [
    ("spatial=nope", r"spatial='nope' must be true or false \(in --set spatial=nope\)"),
    ("batch=x", r"batch='x' must be an integer in 1\.\.65536"),
    ("batch=4.5", r"batch='4\.5' must be an integer"),
    ("batch=0", r"batch=0 is out of range"),
    ("policy_lr=fast", r"policy_lr='fast' must be a number in 0\.\.1"),
    ("max_seconds=nan", r"max_seconds=nan is out of range"),
    ("domain=music", r"domain='music' must be one of \['paint', 'scene'\]"),
    ("bach=3", r"unknown config key 'bach' \(in --set bach=3\); did you mean 'batch'"),
    ("batch", r"expected key=value"),
    (f"pretrain_seconds=1{'0' * 400}", "pretrain_seconds=inf is out of range"),
    (f"updates=1{'0' * 400}", "is too large"),
])
def test_set_uses_the_same_rules(item, match):
    with pytest.raises(ConfigError, match=match):
        load_config(ROOT / "configs" / "tiny.toml", [item])


def test_set_values_take_the_fields_type():
    assert parse_override("spatial=true") == ("spatial", True)
    assert parse_override("spatial=0") == ("spatial", False)
    assert parse_override("policy_lr=1e-3") == ("policy_lr", 1e-3)
    assert parse_override("batch= 8") == ("batch", 8)
    assert parse_override("name=a=b") == ("name", "a=b")
    config = load_config(ROOT / "configs" / "tiny.toml", ["max_seconds=5", "resume=yes"])
    assert config.run.max_seconds == 5.0 and isinstance(config.run.max_seconds, float)
    assert config.run.resume is True


def test_rules_between_fields(tmp_path):
    with pytest.raises(ConfigError, match="conditional=false .* needs reward='discriminator'"):
        load_config(None, ["conditional=false"])
    with pytest.raises(ConfigError, match="pretrain_source='teacher' needs domain='paint'"):
        load_config(None, ["domain=scene", "pretrain_source=teacher"])
    with pytest.raises(ConfigError, match="episode_length=100 places 99 objects"):
        load_config(None, ["domain=scene", "episode_length=100"])
    with pytest.raises(ConfigError, match=r"batch=-1 is out of range"):
        TrainConfig().replace(batch=-1)
    with pytest.raises(ConfigError, match="critic_real='teacher' .* needs conditional=false"):
        load_config(None, ["reward=discriminator", "critic_real=teacher"])
    with pytest.raises(ConfigError, match="critic_real='pen' must be one of"):
        load_config(None, ["critic_real=pen"])


def test_the_interpreter_must_draw_the_domain():
    from spiral_dsl.interpreters import get_interpreter
    from synth.config import INTERPRETER_DOMAINS
    for name, domains in INTERPRETER_DOMAINS.items():
        assert tuple(get_interpreter(name).domains) == domains
    with pytest.raises(ConfigError, match=r"tiny.toml with --set: interpreter='raster' draws "
                                          r"\['paint'\], not domain='scene'; use interpreter = "
                                          r"one of \['mujoco'\]"):
        load_config(ROOT / "configs" / "tiny.toml", ["domain=scene", "batch=2"])
    assert load_config(None, ["domain=scene", "interpreter=mujoco"]).run.interpreter == "mujoco"


def test_the_action_space_is_checked_on_load(tmp_path):
    """An unknown brush is a ConfigError when the config loads, before a run writes anything
    (it was found by the training loop after args.json was written)."""
    with pytest.raises(ConfigError, match=r"with --set: unknown brush 'nope'"):
        load_config(ROOT / "configs" / "tiny.toml", ["brush=nope"])
    out = tmp_path / "run"
    assert spiral(["train", *("--config", str(ROOT / "configs" / "tiny.toml")), "--set", f"out_dir={out}",
                   "--set", "brush=../x"]) == 1
    assert not out.exists()


def test_a_commands_own_options_are_named_in_their_errors(capsys):
    for argv, message in ((["--workers", "0"], "workers=0 is out of range; valid: 1..1024 (in --workers 0)"),
                          (["--pretrain", "-1"], "pretrain_updates=-1 is out of range; valid: >= 0 "
                                                 "(in --pretrain -1)")):
        assert spiral(["train", "--config", str(ROOT / "configs" / "tiny.toml"), *argv]) == 1
        assert message in capsys.readouterr().err


def test_config_error_is_an_spl_error():
    assert issubclass(ConfigError, SplError)


def test_teacher_cli_reads_the_config_and_reports_bad_values(capsys):
    from synth.teacher import main
    assert main(["--config", str(ROOT / "configs" / "tiny.toml"), "--set", "teacher_polish=x"]) == 1
    assert "teacher_polish='x' must be an integer in 0..1000" in capsys.readouterr().err
    assert main(["--set", "domain=scene", "--set", "interpreter=mujoco", "--out", "unused.npz"]) == 1
    assert "paint domain" in capsys.readouterr().err
