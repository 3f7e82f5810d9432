"""Every ```python block of README.md runs, in a fresh folder holding the files it names
(the repository's examples/, a ``digit.png`` from the evaluation digits and a ``scene.png``
of a held-out MuJoCo scene)."""
import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)


def test_the_readme_has_python_snippets():
    assert len(BLOCKS) >= 2
    assert any("Program.load" in b for b in BLOCKS) and any("synthesize(" in b for b in BLOCKS)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """The files the snippets name, in the current folder."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _provide_images(folder: Path) -> None:
    from spiral_dsl.actions import ActionSpec
    from spiral_dsl.io import save_image
    from synth.data import load_set
    from synth.scene_eval import held_out_scenes

    images, _ = load_set("mnist-eval", size=64)
    save_image(images[7], folder / "digit.png")
    _, scenes = held_out_scenes(ActionSpec.for_domain("scene"), count=1)
    save_image(scenes[0], folder / "scene.png")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_snippet_runs(workdir, index):
    code = BLOCKS[index]
    if "synthesize" in code:
        pytest.importorskip("torch")
        _provide_images(workdir)
    exec(compile(code, f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})
