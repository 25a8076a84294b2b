"""The import rules of docs/ARCHITECTURE.md, checked on the source: every import counts,
those inside functions and under ``TYPE_CHECKING`` included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "exafs_cn"

#: What each part may import from the package's other parts (the top-level shared modules
#: ``settings``, ``features``, ``feff``, ``atomic``, ... are open to all).
FORBIDDEN = {
    "exafs_cn.models": ("exafs_cn.learn", "exafs_cn.datagen", "exafs_cn.measured", "exafs_cn.cli"),
    "exafs_cn.measured": ("exafs_cn.learn", "exafs_cn.datagen", "exafs_cn.cli"),
    "exafs_cn.datagen": ("exafs_cn.learn", "exafs_cn.measured", "exafs_cn.cli"),
    "exafs_cn.learn": ("exafs_cn.measured", "exafs_cn.cli"),
}
#: Top-level modules every part may import: they import none of the parts.
SHARED = (
    "atomic",
    "elements",
    "examples",
    "exceptions",
    "features",
    "feff",
    "figures",
    "larch_home",
    "larch_output",
    "lazy_exports",
    "package_data",
    "parallel",
    "regular_files",
    "settings",
)
#: The parts whose ``__init__`` declares their stable surface (``__all__``).
PARTS = ("exafs_cn.datagen", "exafs_cn.learn", "exafs_cn.measured", "exafs_cn.models")
ROOT = SRC.parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        out.update(t for t in targets if t in MODULES and t not in (name, "exafs_cn"))
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_there_are_no_import_cycles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert not cycles, cycles


@pytest.mark.parametrize("part", FORBIDDEN)
def test_each_part_imports_only_what_the_rules_allow(part):
    broken = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if name == part or name.startswith(part + ".")
        for target in targets
        if target.startswith(FORBIDDEN[part])
    ]
    assert not broken, broken


def test_prediction_loads_no_training_code_when_it_runs():
    """What ``exafs-cn predict`` and ``exafs_cn.predict`` import, ``--fit`` included, followed through: no module of learn/ or datagen/."""
    reached, todo = set(), ["exafs_cn.measured._api", "exafs_cn.measured._pipeline", "exafs_cn.measured._predict"]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        todo.extend(GRAPH[name])
    assert not [name for name in reached if name.startswith(("exafs_cn.learn", "exafs_cn.datagen"))], sorted(reached)


def test_the_shared_top_level_modules_import_none_of_the_parts():
    for short in SHARED:
        name = f"exafs_cn.{short}"
        parts = [t for t in GRAPH[name] if t.startswith(("exafs_cn.learn", "exafs_cn.datagen", "exafs_cn.measured", "exafs_cn.models", "exafs_cn.cli"))]
        assert not parts, f"{name} imports {parts}"


def test_the_modules_inside_a_part_are_private():
    """A part's ``__init__`` is its public surface; every module inside it is ``_name`` (a
    private package's own modules, ``measured/_formats/xdi.py``, are private through it)."""
    public = [
        name
        for name in MODULES
        if name.startswith(tuple(p + "." for p in PARTS)) and not name.split(".")[2].startswith("_")
    ]
    assert not public, public


@pytest.mark.parametrize("part", PARTS)
def test_every_name_a_part_declares_is_there(part):
    import importlib

    package = importlib.import_module(part)
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert package.__all__ and not missing, missing


def test_studies_and_benchmarks_use_only_what_the_parts_declare():
    """studies/ and benchmarks/ import a part's names from the part (its ``__all__``), never from
    one of its modules: those are free to change."""
    import importlib

    broken = []
    for path in sorted([*(ROOT / "studies").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("exafs_cn")):
                continue
            part = next((p for p in PARTS if node.module == p or node.module.startswith(p + ".")), None)
            if part is None:
                continue
            declared = importlib.import_module(part).__all__
            if node.module != part or any(alias.name not in declared for alias in node.names):
                broken.append(f"{path.name}:{node.lineno} from {node.module} import {', '.join(a.name for a in node.names)}")
    assert not broken, broken
