"""The learning half of ``make demo`` (synth/demo.py): the scene part, which is quick."""
import re
import warnings

import synth.demo as demo
from synth.synthesize import BlankResultWarning


def test_scene_inversion_writes_the_grid_and_reports_recovery(tmp_path, capsys):
    demo.invert_scenes(tmp_path, count=2)
    out, err = capsys.readouterr()
    assert (tmp_path / "grid.png").is_file()
    assert sorted(p.name for p in tmp_path.glob("*.spl")) == ["scene0.spl", "scene1.spl"]
    assert re.search(r"2 held-out scenes inverted by [\w+]+ \(real MuJoCo\): \d+/\d+ objects", out)
    assert "Traceback" not in err


def test_a_blank_result_warning_is_one_line_naming_the_scene(tmp_path, capsys, monkeypatch):
    real = demo.synthesize

    def warning_synthesize(*args, **kwargs):       # the real result, plus the warning a weak
        program = real(*args, **kwargs)            # policy gives on some scenes
        warnings.warn(BlankResultWarning("no better than a blank canvas"), stacklevel=2)
        return program

    monkeypatch.setattr(demo, "synthesize", warning_synthesize)
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # a warning escaping the demo would raise
        demo.invert_scenes(tmp_path, count=2)
    err = capsys.readouterr().err
    assert "scene0: warning: no better than a blank canvas" in err
    assert "scene1: warning: no better than a blank canvas" in err


def test_paint_set_writes_programs_grid_and_replay_and_prints_each_method(tmp_path, capsys):
    from synth.data import load_set
    images, labels = load_set("glyphs-dejavu", size=64)
    demo.paint_set(tmp_path, "char", images, [f"U{v:04X}" for v in labels], 2, ["beam+fit", "greedy"],
                   "2 printed letters")
    out = capsys.readouterr().out
    names = sorted(p.name for p in tmp_path.glob("*.spl"))   # the first and the last: A and z
    assert names == ["char00_U0041_beam_fit.spl", "char00_U0041_greedy.spl",
                     "char01_U007A_beam_fit.spl", "char01_U007A_greedy.spl"]
    assert (tmp_path / "grid.png").is_file() and (tmp_path / "replay_beam_fit.gif").is_file()
    assert re.search(r"beam\+fit\s+mean MSE 0\.\d{4}", out) and "greedy" in out
