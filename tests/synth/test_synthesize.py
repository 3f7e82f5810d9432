"""synthesize: light-on-dark input inverted, blank results warned about, threads chosen."""
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from spiral_dsl.ast import Stroke
from spiral_dsl.cli import main
from spiral_dsl.errors import SplLimitError, SplRangeError
from synth.data import SHIPPED
from synth.synthesize import BlankResultWarning, default_checkpoint, synthesize

# SPIRAL's network: its samples on a black page stay near blank (the lean default's do not)
SPIRAL_NET = str(default_checkpoint().with_name("mnist.pt"))


@pytest.fixture(scope="module")
def mnist_digit():
    """A raw evaluation digit as MNIST stores it: 28×28 uint8, white on black."""
    with np.load(SHIPPED) as z:
        return z["eval_images"][7]


def _strokes(program) -> int:
    return sum(isinstance(s, Stroke) for s in program)


def test_a_raw_mnist_array_is_inverted_automatically(mnist_digit):
    """Was: 19 moves, no stroke, MSE 0.75 (the policy saw a black page)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", BlankResultWarning)
        program = synthesize(mnist_digit, samples=4)
    assert _strokes(program) > 0
    assert float(program.metadata["mse"]) < 0.1
    # the recorded score is the returned program's, on libmypaint, against the ink-on-white digit
    from synth.data import to_target
    target = to_target(mnist_digit, 64, "auto")
    rendered = float(np.mean((program.render() - target) ** 2))
    assert float(program.metadata["mse"]) == pytest.approx(rendered, abs=2e-6)
    assert program == synthesize(255 - mnist_digit, samples=4)  # the same digit, ink on white


def test_a_light_on_dark_file_is_inverted_automatically(tmp_path, mnist_digit):
    path = tmp_path / "digit7.png"
    Image.fromarray(mnist_digit).resize((112, 112)).save(path)
    program = synthesize(path, samples=4)
    assert _strokes(program) > 0 and float(program.metadata["mse"]) < 0.1


def test_forcing_no_inversion_warns_that_the_result_is_blank(mnist_digit):
    with pytest.warns(BlankResultWarning, match=r"no better than a blank canvas.*invert=True"):
        program = synthesize(mnist_digit, method="policy", checkpoint=SPIRAL_NET, samples=4,
                             invert=False)
    assert float(program.metadata["mse"]) > 0.5


def test_the_warning_names_the_callers_line_also_through_the_facade(mnist_digit):
    import spiral_dsl
    for entry in (synthesize, spiral_dsl.synthesize):
        with pytest.warns(BlankResultWarning) as caught:
            entry(mnist_digit, method="policy", checkpoint=SPIRAL_NET, samples=2, invert=False)
        assert caught[0].filename == __file__


def test_invert_must_be_none_or_a_bool(mnist_digit):
    with pytest.raises(SplRangeError, match=r"invert='auto' is not one of \[None, True, False\]"):
        synthesize(mnist_digit, invert="auto")


def test_scenes_are_not_inverted():
    """A dark scene image stays as it is (the table is dark): invert=None means False."""
    dark = np.full((64, 64, 3), 0.1, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BlankResultWarning)  # MCMC on 20 calls may stay blank
        program = synthesize(dark, domain="scene", method="mcmc", budget=20)
        inverted = synthesize(dark, domain="scene", method="mcmc", budget=20, invert=True)
    assert program.metadata["mse"] != inverted.metadata["mse"]


def test_arrays_are_validated_like_files():
    with pytest.raises(SplLimitError, match="aspect ratio"):
        synthesize(np.zeros((1, 15000), np.uint8))
    with pytest.raises(SplRangeError, match="NaN"):
        synthesize(np.full((28, 28), np.nan, np.float32))


def test_threads_are_chosen_and_restored(mnist_digit):
    before = torch.get_num_threads()
    seen = []
    original = torch.set_num_threads

    def spy(n):
        seen.append(n)
        original(n)
    torch.set_num_threads = spy
    try:
        synthesize(mnist_digit, samples=2)
        synthesize(mnist_digit, samples=2, threads=2)
    finally:
        torch.set_num_threads = original
    assert seen == [1, before, 2, before] and torch.get_num_threads() == before
    with pytest.raises(SplRangeError, match="threads=0 must be an integer >= 1"):
        synthesize(mnist_digit, threads=0)


def test_the_cli_prints_the_blank_warning_and_takes_invert(tmp_path, mnist_digit, capsys):
    path = tmp_path / "light.png"
    Image.fromarray(mnist_digit).save(path)
    assert main(["synthesize", str(path), "-o", str(tmp_path / "out"), "--samples", "2",
                 "--method", "policy", "--checkpoint", SPIRAL_NET, "--no-invert"]) == 0
    err = capsys.readouterr().err
    assert f"{path}: warning: the result" in err and "no better than a blank canvas" in err
    assert main(["synthesize", str(path), "-o", str(tmp_path / "out2"), "--samples", "2",
                 "--method", "policy", "--checkpoint", SPIRAL_NET, "--threads", "2"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_paint_programs_come_back_tidy(mnist_digit):
    """Hex colours, no two moves in a row, the MSE it reports is its render's."""
    from spiral_dsl.ast import Move
    from synth.synthesize import mse
    program = synthesize(mnist_digit, samples=4)
    assert "rgb(" not in str(program)
    kinds = [isinstance(s, Move) for s in program]
    assert not any(a and b for a, b in zip(kinds, kinds[1:]))
    from synth.data import to_target
    assert float(program.metadata["mse"]) == pytest.approx(mse(program.render(), to_target(mnist_digit, 64, "auto")), abs=1e-6)


def test_scene_synthesis_is_deterministic_for_a_seed():
    from spiral_dsl.actions import ActionSpec
    from synth.scene_eval import held_out_scenes
    _, targets = held_out_scenes(ActionSpec.for_domain("scene"), count=1, seed=10_500)
    a = synthesize(targets[0], domain="scene", seed=3)
    b = synthesize(targets[0], domain="scene", seed=3)
    assert a == b and a.metadata["method"] == "policy+refine"


def test_best_of_policy_verifies_the_rasters_shortlist():
    """With ``verify`` at least the sample count the choice is the libmypaint best of all
    candidates; with ``verify=1`` it is the raster's best (no libmypaint ranking)."""
    from synth.data import load_set
    from synth.evaluate import spread
    from synth.synthesize import best_of_policy, load_policy, mse, policy_candidates
    images, _ = load_set("mnist-eval")
    image = images[spread(len(images), 3)[1]]
    policy, _ = load_policy(None, "paint")
    from synth.tidy import merge_moves
    candidates, raster = policy_candidates(policy, image, 6, 0, 20, with_scores=True)
    merged = [merge_moves(p) for p in candidates]   # libmypaint scores them without move runs
    real = [mse(p.render(), image) for p in merged]
    assert len(raster) == 6 and np.all(np.isfinite(raster))
    assert best_of_policy(policy, image, 6, 0, 20, verify=6) == merged[int(np.argmin(real))]
    assert best_of_policy(policy, image, 6, 0, 20, verify=1) == merged[int(np.argmin(raster))]
    # best=k decodes only the raster's k best, best first, with their scores
    order = np.argsort(raster, kind="stable")
    top, scores = policy_candidates(policy, image, 6, 0, 20, with_scores=True, best=3)
    assert top == [candidates[k] for k in order[:3]] and np.array_equal(scores, raster[order[:3]])
    program, score = best_of_policy(policy, image, 6, 0, 20, verify=6, with_score=True)
    assert score == min(real) and program == merged[int(np.argmin(real))]
