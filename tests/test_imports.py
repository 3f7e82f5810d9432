"""The layers' import rules, read from the source with :mod:`ast` (nothing is imported).

The project has three layers, and dependencies point downward only::

    synth/                      the learning (torch, ray)
    spiral_dsl/interpreters/    the backends
    spiral_dsl/                 the language

Rules checked on every ``.py`` file under ``spiral_dsl/`` and ``synth/``:

1. No import cycle between project modules. Every import counts, also one inside a function:
   a lazy import avoids an import-time crash but the two modules still depend on each other.
2. No ``spiral_dsl`` module imports ``synth``, except the documented lazy facade: functions of
   ``spiral_dsl/__init__.py`` (``spiral_dsl.synthesize``, and ``sample`` when it comes) import
   ``synth`` when called. The CLI finds ``synth``'s commands through the ``spiral_dsl.commands``
   entry-point group (:mod:`spiral_dsl.cli`), never by an import.
3. No ``spiral_dsl`` module imports torch or ray at module level, directly or through the
   module-level imports of other project modules, except the on-demand backend modules listed
   in ``TORCH_BACKENDS`` (loaded by name by the interpreter registry when a user picks the
   raster backend), which nothing else may import at module level.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("spiral_dsl", "synth")
HEAVY = ("torch", "ray")

# Backends that need torch at import; the registry (spiral_dsl.interpreters) imports them by
# name only when the raster backend is asked for.
TORCH_BACKENDS = {
    "spiral_dsl.interpreters.raster",
    "spiral_dsl.interpreters.raster_dabs",
    "spiral_dsl.interpreters.raster_fidelity",
}

# Known cycles being removed on other branches. Each entry is the set of modules of one cycle;
# delete an entry when its fix lands (the test then keeps it from coming back).
KNOWN_CYCLES: list[frozenset[str]] = []


@dataclass(frozen=True)
class Import:
    importer: str          # dotted module name of the file
    target: str            # dotted name imported (a project module, or e.g. "torch.nn")
    line: int
    module_level: bool     # runs when the importer is imported (not inside a function)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            files[module_name(path)] = path
    return files


FILES = project_files()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
           (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, path: Path) -> list[Import]:
    """Every import in the file, with the project module it names (``from P import m`` names
    the submodule ``P.m`` when that is a file) and whether it runs at import time."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, module_level: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            return  # only for type checkers; never runs
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(name, alias.name, node.lineno, module_level))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node)
            if base == "__future__":
                return
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append(Import(name, sub if sub in FILES else base, node.lineno, module_level))
        inner = module_level and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, True)
    return found


IMPORTS = [imp for name, path in FILES.items() for imp in imports_of(name, path)]


def _project_target(target: str) -> str | None:
    """The project module an import loads (``spiral_dsl.ast.Color`` is not a module name, but
    ``from spiral_dsl.ast import Color`` resolved to ``spiral_dsl.ast`` already)."""
    while target and target not in FILES:
        target = target.rpartition(".")[0]
    return target or None


def _is_facade(imp: Import) -> bool:
    """The one sanctioned upward reference: a function of ``spiral_dsl/__init__.py`` importing
    ``synth`` when called (``spiral_dsl.synthesize``)."""
    return imp.importer == "spiral_dsl" and not imp.module_level and \
        imp.target.split(".")[0] == "synth"


def _graph(module_level_only: bool = False) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in FILES}
    for imp in IMPORTS:
        if (module_level_only and not imp.module_level) or _is_facade(imp):
            continue
        target = _project_target(imp.target)
        if target and target != imp.importer:
            graph[imp.importer].add(target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm; components of more than one module are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            out.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [c for c in out if len(c) > 1]


def _where(importer: str, targets) -> str:
    lines = {f"{FILES[imp.importer].relative_to(REPO)}:{imp.line} imports "
             f"{_project_target(imp.target)}"
             for imp in IMPORTS if imp.importer == importer and not _is_facade(imp)
             and _project_target(imp.target) in targets}
    return ", ".join(sorted(lines))


# ---------------------------------------------------------------------------- the walker itself
def test_the_walker_sees_every_module_and_resolves_relative_imports():
    assert {"spiral_dsl", "spiral_dsl.program", "spiral_dsl.interpreters.base", "synth.cli"} <= set(FILES)
    program = {imp.target for imp in IMPORTS if imp.importer == "spiral_dsl.program"}
    assert {"spiral_dsl.ast", "spiral_dsl.json_io", "spiral_dsl.parser"} <= program
    base = {imp.target for imp in IMPORTS if imp.importer == "spiral_dsl.interpreters.base"}
    assert "spiral_dsl.interpreters.registry" in base          # from .registry import ...


def test_the_cycle_finder_finds_a_lazy_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [{"a", "b", "c"}]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


# ---------------------------------------------------------------------------- the rules
def test_no_import_cycles():
    cycles = [c for c in strongly_connected(_graph()) if frozenset(c) not in KNOWN_CYCLES]
    details = ["{" + ", ".join(sorted(c)) + "}: " + "; ".join(_where(m, c) for m in sorted(c))
               for c in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(details)


def test_known_cycles_are_still_cycles():
    """An allow-list entry whose cycle is gone must be deleted, so it cannot hide a new one."""
    cycles = [frozenset(c) for c in strongly_connected(_graph())]
    for known in KNOWN_CYCLES:
        assert known in cycles, f"{sorted(known)} is no longer a cycle: remove it from KNOWN_CYCLES"


def test_the_language_never_imports_the_learning_layer():
    bad = [imp for imp in IMPORTS
           if imp.importer.startswith("spiral_dsl") and imp.target.split(".")[0] == "synth"
           and not _is_facade(imp)]
    assert not bad, "\n".join(f"{FILES[i.importer].relative_to(REPO)}:{i.line} imports {i.target}"
                              for i in bad)


def test_the_facade_imports_synth_only_inside_functions():
    facade = [imp for imp in IMPORTS if imp.importer == "spiral_dsl"
              and imp.target.split(".")[0] == "synth"]
    assert facade, "spiral_dsl.synthesize should reach synth lazily"
    assert not any(imp.module_level for imp in facade)


def _heavy_at_module_level(name: str) -> list[Import]:
    return [imp for imp in IMPORTS if imp.importer == name and imp.module_level
            and imp.target.split(".")[0] in HEAVY]


@pytest.mark.parametrize("name", sorted(n for n in FILES if n.startswith("spiral_dsl")))
def test_language_modules_load_no_torch_or_ray_at_import(name):
    """Follow the module-level imports from ``name``: none reaches torch, ray or a torch
    backend (unless ``name`` is one of those backends)."""
    if name in TORCH_BACKENDS:
        return
    graph = _graph(module_level_only=True)
    seen, todo, parents = {name}, [name], {}
    while todo:
        current = todo.pop()
        heavy = _heavy_at_module_level(current)
        if heavy or current in TORCH_BACKENDS:
            chain = [current]
            while chain[-1] in parents:
                chain.append(parents[chain[-1]])
            what = heavy[0].target if heavy else current
            pytest.fail(f"importing {name} loads {what} at import time, through "
                        + " <- ".join(chain))
        for nxt in graph[current]:
            if nxt not in seen:
                seen.add(nxt)
                parents[nxt] = current
                todo.append(nxt)


# ---------------------------------------------------------------------------- without torch
_NO_TORCH = "import sys; sys.modules['torch'] = None\n"   # `import torch` now fails as if absent


def _run_without_torch(code: str):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-c", _NO_TORCH + code], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def test_the_facade_names_the_install_command_when_torch_is_missing():
    proc = _run_without_torch(
        "import numpy as np, spiral_dsl\n"
        "try:\n    spiral_dsl.synthesize(np.zeros((8, 8)))\n"
        "except spiral_dsl.SplBackendError as e:\n    print(e)\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ("synthesize needs the learning layer, and torch is not "
                                   "installed: pip install 'spiral-dsl[synth]'")


def test_the_cli_works_without_torch_and_learning_commands_name_the_install_command():
    proc = _run_without_torch(
        "from spiral_dsl.cli import main\n"
        "assert main(['check', 'examples/ticks.spl']) == 0\n"
        "sys.exit(main(['eval', '--limit', '1']))\n")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("examples/ticks.spl: ok")
    assert proc.stderr == "spiral eval needs torch, which is not installed: pip install 'spiral-dsl[synth]'\n"
