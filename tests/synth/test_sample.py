"""sample(): programs from an unconditional policy, the facade, and `spiral sample`."""
import pytest

import spiral_dsl
from spiral_dsl import Program
from spiral_dsl.cli import main as spiral
from spiral_dsl.errors import SplError


@pytest.fixture(scope="module")
def unconditional(tmp_path_factory):
    out = tmp_path_factory.mktemp("uncond")
    assert spiral(["train", "--config", "configs/tiny.toml", "--set", f"out_dir={out}",
                   "--set", "conditional=false", "--set", "reward=discriminator",
                   "--set", "updates=2"]) == 0
    return out / "model.pt"


def test_sample_is_deterministic_for_a_seed_through_the_facade(unconditional):
    a = spiral_dsl.sample(3, seed=4, checkpoint=unconditional)
    b = spiral_dsl.sample(3, seed=4, checkpoint=unconditional)
    assert len(a) == 3 and all(isinstance(p, Program) and p.domain == "paint" for p in a)
    assert a == b


def test_bad_counts_and_conditional_checkpoints_are_clear_errors(unconditional, tmp_path):
    for count in (0, -1, 10**6, 2.5, True):
        with pytest.raises(SplError, match="count=.* is out of range"):
            spiral_dsl.sample(count, checkpoint=unconditional)
    with pytest.raises(SplError, match="is a conditional policy"):
        spiral_dsl.sample(2, checkpoint="synth/checkpoints/mnist.pt")
    with pytest.raises(SplError, match="does not exist"):
        spiral_dsl.sample(2, checkpoint=tmp_path / "missing.pt")


def test_spiral_sample_writes_programs_and_a_grid(unconditional, tmp_path, capsys):
    assert spiral(["sample", "--checkpoint", str(unconditional), "-n", "4", "-o", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample00.spl", "sample01.spl",
                                                          "sample02.spl", "sample03.spl", "samples.png"]
    assert Program.load(tmp_path / "sample02.spl").domain == "paint"
