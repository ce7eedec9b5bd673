"""The helpers package's import graph has no cycles.

Read statically (``ast`` over ``helpers/**/*.py``), with every import of a helpers module counted,
at module level *and* inside functions: a function-level import hides a cycle from Python at
import time, not from the reader, and the module split it blurs is what this test guards.
``if TYPE_CHECKING:`` blocks never run and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import helpers

PACKAGE = Path(helpers.__file__).resolve().parent


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = ("helpers",) + path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): they never run."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(path: Path, root: Path, modules: set[str]) -> set[str]:
    """The helpers modules that ``path`` imports: ``from helpers.x import name`` counts as ``helpers.x``,
    ``from helpers.x import y`` as ``helpers.x.y`` where ``y`` is a submodule."""
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]

    def deepest_module(name: str) -> str | None:  # `import helpers.a.b` where only helpers.a exists
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(deepest_module(a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""  # relative: from ..x import y
            source = ".".join(p for p in (base, node.module) if p)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add(sub if sub in modules else deepest_module(source))
    return {m for m in found if m and m != "helpers" and m != here}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the helpers modules it imports, for every ``.py`` file under ``root``."""
    paths = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    return {name: imported_modules(path, root, set(paths)) for name, path in paths.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one, as ``[a, b, ..., a]`` (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_one_cycle(graph, set(c)) for c in components]


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A concrete cycle through the component's first module (breadth-first: a shortest one)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, ())):
            if w == start:
                return paths[v] + [start]
            if w in component and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")  # unreachable for a strongly connected component


def test_the_helpers_package_has_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles in helpers (function-level imports included):\n" + "\n".join(
        "  " + " -> ".join(c) for c in cycles)


def test_the_graph_sees_function_level_and_package_imports():
    graph = import_graph()
    assert "helpers.deployment" in graph and "helpers.deployment.gate" in graph
    assert "helpers.report" in graph["helpers.pipeline"]  # (the synthetic trees below check imports inside functions)
    assert "helpers.deployment.forgetting" in graph["helpers.deployment.gate"]
    assert "helpers.evaluation" in graph["helpers.deployment.forgetting"]


def test_a_cycle_is_found_and_named(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text("from helpers.b import f\n")
    (tmp_path / "b.py").write_text("def f():\n    from helpers import c\n")  # hidden in a function
    (tmp_path / "c.py").write_text("import helpers.a\n")
    (tmp_path / "d.py").write_text("from typing import TYPE_CHECKING\n\nimport helpers.c\n\n"
                                   "if TYPE_CHECKING:\n    import helpers.a\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "__init__.py").write_text("from .e import g\n")
    (tmp_path / "sub" / "e.py").write_text("from ..d import x\n")
    graph = import_graph(tmp_path)
    assert graph["helpers.d"] == {"helpers.c"}  # the TYPE_CHECKING import is not counted
    assert graph["helpers.sub"] == {"helpers.sub.e"} and graph["helpers.sub.e"] == {"helpers.d"}
    assert find_cycles(graph) == [["helpers.a", "helpers.b", "helpers.c", "helpers.a"]]


@pytest.mark.parametrize("graph", [{"x": {"x"}}, {"x": {"y"}, "y": {"x"}}])
def test_the_smallest_cycles_are_found(graph):
    assert find_cycles(graph) and find_cycles(graph)[0][0] == find_cycles(graph)[0][-1]
