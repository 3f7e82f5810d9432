"""scripts/calibrate_raster.py: the optimiser, and a tiny calibration run that writes only where
it is told."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from spiral_dsl.interpreters.raster_brush import CALIBRATION_FILE, BrushModel, calibration_table

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "calibrate_raster.py"
_spec = importlib.util.spec_from_file_location("calibrate_raster", SCRIPT)
calibrate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibrate)

TINY = ["--brush", "classic/pen", "--strokes", "8", "--iters", "3", "--sizes", "32", "--heldout", "8", "4"]


def test_nelder_mead_minimises_a_quadratic():
    x, v = calibrate.nelder_mead(lambda x: float(((x - np.array([1.0, -2.0])) ** 2).sum()),
                                 [0.0, 0.0], [0.5, 0.5], 150)
    np.testing.assert_allclose(x, [1.0, -2.0], atol=1e-3)
    assert v < 1e-5


def test_a_tiny_run_writes_the_table_to_out_and_leaves_the_package_alone(tmp_path, capsys):
    shipped = CALIBRATION_FILE.read_bytes()
    out = tmp_path / "sub" / "calibration.json"
    assert calibrate.main([*TINY, "--out", str(out)]) == 0
    assert CALIBRATION_FILE.read_bytes() == shipped
    table = json.loads(out.read_text())
    assert set(table) == set(calibration_table())           # the other brushes are kept
    pen = table["classic/pen"]
    model = BrushModel.from_json(pen["model"])
    assert model.name == "classic/pen" and model.render.transfer in ("edge", "optical")
    assert pen["train_strokes"] == 8 and pen["train_sizes"] == [32]
    assert 0 < pen["heldout"]["strokes"]["ink_iou"] <= 1
    assert pen["heldout"]["strokes"]["n"] == 8 and pen["heldout"]["programs"]["n"] == 4
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (TINY, "one of the arguments --out --update-package is required"),
    ([*TINY, "--out", "x.json", "--update-package"], "not allowed with argument"),
    (["--out", "x.json", "--strokes", "0"], "--strokes=0 must be >= 1"),
    (["--out", "x.json", "--brush", "classic/pen", "--brush", "nope"], "unknown brush 'nope'"),
    (["--out", "x.json", "--sizes", "64", "0"], "size=0 is out of range"),
])
def test_bad_arguments_are_refused_before_any_work(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        calibrate.main(argv)
    assert exit_.value.code == 2 and needle in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
