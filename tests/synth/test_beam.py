"""synth.beam: the policy-guided beam search (and synthesize's "beam" method)."""
import numpy as np
import pytest
import torch

from spiral_dsl import Program
from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplRangeError, SplTypeError
from synth.beam import _survivors, beam_search
from synth.nets import Policy, PolicyConfig

SPEC = ActionSpec.for_domain("paint")


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return Policy(SPEC, PolicyConfig(channels=8, hidden=32, arch="lean", spatial=True)).eval()


def _target() -> np.ndarray:
    program = Program.parse("paint\nmove to (10, 12)\n"
                            "stroke via (30, 50) to (52, 20) pressure 0.9 size 3 color #202020\n")
    return program.render(backend="raster")


def test_programs_best_first_with_their_raster_errors(policy):
    target = _target()
    programs, errors = beam_search(policy, target, width=3, expand=5, steps=4, seed=0)
    assert len(programs) == 3 and all(len(p) == 4 for p in programs)
    assert list(errors) == sorted(errors)
    for program, error in zip(programs, errors):   # the errors are the programs' raster renders'
        image = program.render(backend="raster")
        assert float(np.mean((image - target) ** 2)) == pytest.approx(float(error), abs=2e-5)


def test_the_beam_is_no_worse_than_the_same_policys_samples_and_deterministic(policy):
    """With the same proposals per step, keeping the best prefixes beats keeping the best
    whole programs of as many samples (here an untrained policy: almost random strokes)."""
    from synth.synthesize import policy_candidates
    target = _target()
    _, beam_errors = beam_search(policy, target, width=4, expand=8, steps=6, seed=1)
    _, sample_errors = policy_candidates(policy, target, 32, 1, 7, with_scores=True)
    assert beam_errors[0] <= sample_errors.min()
    again, again_errors = beam_search(policy, target, width=4, expand=8, steps=6, seed=1)
    assert np.array_equal(again_errors, beam_errors)
    other, _ = beam_search(policy, target, width=4, expand=8, steps=6, seed=2)
    assert [str(p) for p in again] != [str(p) for p in other]


def test_survivors_are_the_lowest_errors_each_statement_of_a_parent_once():
    flag = torch.tensor([0, 0, 1, 1, 0])
    actions = {s: torch.zeros(5, dtype=torch.long) for s in SPEC.order}
    actions["flag"] = flag
    actions["end"] = torch.tensor([3, 3, 4, 4, 3])
    actions["size"] = torch.tensor([1, 2, 0, 0, 0])    # a move's size is unused: 0 and 1 are one move
    errors = torch.tensor([0.5, 0.5, 0.2, 0.2, 0.5])
    parents = torch.tensor([0, 0, 0, 1, 1])           # 2 and 3: one stroke, other parents
    assert _survivors(SPEC, errors, parents, actions, 3).tolist() == [2, 3, 0]
    assert _survivors(SPEC, errors, parents, actions, 5).tolist() == [2, 3, 0, 4]


def test_bad_arguments_are_clear_errors(policy):
    with pytest.raises(SplRangeError, match="width=0 must be an integer >= 1"):
        beam_search(policy, _target(), width=0)
    scene = Policy(ActionSpec.for_domain("scene"), PolicyConfig(channels=8, hidden=32))
    with pytest.raises(SplTypeError, match="beam_search paints"):
        beam_search(scene, _target())


def test_synthesize_beam_method_returns_a_verified_tidied_program(tmp_path):
    from synth.synthesize import synthesize
    target = _target()
    program = synthesize(target, method="beam", samples=4, episode_length=6)
    assert program.metadata["method"] == "beam"
    rendered = float(np.mean((program.render() - target) ** 2))   # libmypaint
    assert float(program.metadata["mse"]) == pytest.approx(rendered, abs=2e-6)
    assert program == synthesize(target, method="beam", samples=4, episode_length=6)
