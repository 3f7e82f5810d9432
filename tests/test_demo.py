"""spiral_dsl.demo writes where it is told (default ./out/demo/examples), never into the package."""
import shutil
from pathlib import Path

from spiral_dsl.demo import main

REPO = Path(__file__).resolve().parents[1]


def test_demo_writes_under_the_current_folder_by_default(tmp_path, monkeypatch, capsys):
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "ticks.spl", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out = tmp_path / "out" / "demo" / "examples"
    assert sorted(p.name for p in out.iterdir()) == [
        "ticks.fmt.spl", "ticks.gif", "ticks.lowered.spl", "ticks.png", "ticks.svg"]
    assert "ticks.spl: paint, 3 statements -> 10 core; rendered png/gif/svg" in capsys.readouterr().out


def test_demo_takes_its_folders_as_arguments(tmp_path, capsys):
    examples = tmp_path / "in"
    examples.mkdir()
    shutil.copy(REPO / "examples" / "ticks.spl", examples)
    assert main(["--examples", str(examples), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "ticks.png").is_file()


def test_demo_without_examples_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 1
    assert "no .spl examples in examples" in capsys.readouterr().err
