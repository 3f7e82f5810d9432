"""The built wheel ships the grammar, and an installed copy finds it inside its own package.

The wheel is built from a copy of the source tree so that the test neither writes ``build/``
and ``*.egg-info`` into the checkout nor picks up stale files a previous in-tree build left
in ``build/lib`` (setuptools copies them into every later wheel). No network is used:
``--no-build-isolation`` builds with the venv's setuptools, ``--no-index`` forbids downloads.
"""
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import lark
import pytest

REPO = Path(__file__).resolve().parents[1]
GRAMMAR = (REPO / "grammars" / "spl.lark").read_text(encoding="utf-8")
# Site-packages of this venv, for the dependencies (lark) of the installed copy.
SITE = Path(lark.__file__).resolve().parents[1]
# Not part of the package: VCS, venv, caches, build outputs, run artefacts.
_IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                 ".hypothesis", ".pytest_cache", "runs", "out", "tests", "bench",
                                 ".whl", ".gl")

PROBE = r"""
import importlib.util, json, pathlib, sys
repo = pathlib.Path(sys.argv[1]).resolve()
on_path = [p for p in sys.path if pathlib.Path(p or ".").resolve() == repo]
import spiral_dsl
from spiral_dsl import Program
from spiral_dsl.parser import grammar_text
text = pathlib.Path(sys.argv[2]).read_text()
print(json.dumps({
    "repo_on_path": on_path,
    "package": spiral_dsl.__file__,
    "grammar": grammar_text(),
    "core_statements": len(Program.parse(text)),  # sugar: parsed by lark with that grammar
}))
"""


def _run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _pip(*args, cwd):
    return _run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-index"],
                cwd=cwd)


def _isolated_python(pythonpath, *args, cwd):
    """``python -S``: no site processing, so the editable install's finder (which maps
    ``spiral_dsl`` to the checkout) is not installed; only ``pythonpath`` is importable."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(map(str, pythonpath)),
           "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-S", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


@pytest.mark.slow
def test_wheel_ships_the_grammar_and_the_installed_package_finds_it(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=_IGNORE, symlinks=True)
    wheels = tmp_path / "wheels"
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), ".", cwd=source)
    (wheel,) = wheels.glob("spiral_dsl-*.whl")

    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert "spiral_dsl/grammars/spl.lark" in names, sorted(names)
        assert z.read("spiral_dsl/grammars/spl.lark").decode("utf-8") == GRAMMAR
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "spiral = spiral_dsl.cli:main" in z.read(entry_points).decode()

    target = tmp_path / "installed"
    _pip("install", "--no-deps", "--target", str(target), str(wheel), cwd=tmp_path)
    assert (target / "spiral_dsl" / "grammars" / "spl.lark").is_file()
    # grammar_text() falls back to <package>/../grammars in a checkout; make sure it cannot here
    assert not (target / "grammars").exists()

    # control: in this isolation the checkout itself is not importable
    control = _isolated_python([SITE], "-c", "import spiral_dsl", cwd=tmp_path)
    assert control.returncode != 0 and "No module named 'spiral_dsl'" in control.stderr, \
        control.stdout + control.stderr

    probe = _isolated_python([target, SITE], "-c", PROBE, str(REPO),
                             str(REPO / "examples" / "ticks.spl"), cwd=target)
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert seen["repo_on_path"] == []
    assert Path(seen["package"]).resolve().is_relative_to(target.resolve())
    assert seen["grammar"] == GRAMMAR
    assert seen["core_statements"] == 10
