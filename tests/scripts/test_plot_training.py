"""scripts/plot_training.py: one panel per requested metrics key; rows without the key skipped."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "plot_training.py"
_spec = importlib.util.spec_from_file_location("plot_training", SCRIPT)
plot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plot)


def test_gan_health_keys_are_plotted_one_panel_each(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"update": i, "seconds": float(i), "mse": 0.1, "d_real": float(i), "d_fake": -float(i)}
            for i in range(1, 30)] + [{"update": 30, "seconds": 30.0, "mse": 0.1}]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    # smoothing over 25 rows that have the key; the last row has no d_real
    s = plot.series(run, 0.0, "d_real")
    assert len(s) == 29 and s[0] == (1.0, 1.0) and s[-1] == (29.0, sum(range(5, 30)) / 25)
    out = tmp_path / "p.png"
    assert plot.main([str(out), f"a={run}", "--keys", "d_real,d_fake,gp"]) == 0
    assert Image.open(out).size == (plot.W, 3 * plot.H)
    assert plot.main([str(out), f"a={run}"]) == 0                 # default: mse alone
    assert Image.open(out).size == (plot.W, plot.H)
