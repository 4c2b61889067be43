"""The package's import graph: no cycles (also through imports inside functions), no private names
imported from another package, and every module imports (``__main__`` entry points run, so not them)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import spineoutcome

ROOT = Path(spineoutcome.__file__).parent
PACKAGE = "spineoutcome"


def module_name(path: Path) -> str:
    """``spineoutcome.a.b`` of ``ROOT/a/b.py`` (``spineoutcome.a`` of ``ROOT/a/__init__.py``)."""
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str) -> list[tuple[str, list[str]]]:
    """``(imported module, imported names)`` of every import in module ``name``, at any depth
    (functions included), except ``if TYPE_CHECKING:`` blocks; relative imports resolved."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                out.extend((alias.name, []) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                out.append((base, [alias.name for alias in child.names]))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return out


def edges(name: str) -> set[str]:
    """The package modules ``name`` depends on: an imported submodule, else the module imported from."""
    targets = set()
    for module, names in imports(name):
        if not module.startswith(PACKAGE):
            continue
        submodules = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
        targets.update(submodules)
        if len(submodules) < len(names) or not names:
            while module not in MODULES and "." in module:
                module = module.rpartition(".")[0]
            targets.add(module)
    targets.discard(name)
    return targets


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of ``graph`` with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _parent_package(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def test_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({**graph, "c": {"d"}}) == []


def test_import_graph_resolves_relative_and_lazy_imports() -> None:
    assert "spineoutcome.modeling.families" in edges("spineoutcome.modeling.zoo")  # from .families import ...
    assert "spineoutcome.report" in edges("spineoutcome.demo")  # inside a function


def test_no_import_cycle() -> None:
    assert cycles({m: edges(m) for m in MODULES}) == []


def test_no_private_import_across_packages() -> None:
    offences = []
    for name in MODULES:
        for module, names in imports(name):
            if not module.startswith(PACKAGE):
                private_module = module != "__future__" and any(p.startswith("_") for p in module.split("."))
                if private_module or any(n.startswith("_") for n in names):
                    offences.append(f"{name}: from {module} import {names}")
                continue
            home = _parent_package(name)
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            private_part = next((p for p in module.split(".") if p.startswith("_")), None)
            owner = module.rpartition(".")[0] if private_part else module
            if (private or private_part) and not (
                home == owner or home.startswith(owner + ".") or (private_part and home == module.rpartition(".")[0])
            ):
                offences.append(f"{name}: from {module} import {names}")
    assert offences == []


@pytest.mark.parametrize("name", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_every_module_imports(name: str) -> None:
    importlib.import_module(name)
