"""No import circles: no two modules of copyloom import each other, directly or through others; and the
engine runs on numpy and scipy alone.

Imports count as Python runs them: importing `a.b.c` first runs the packages `a` and `a.b` (their
`__init__`), so those count as imported too, except the packages the importer is itself inside (which
have already started). Imports under `if TYPE_CHECKING` count as well (grimp can tell them apart, but a
circle of types is still a circle of design, and the usual way out of a run-time circle is to hide one
side of it there).
"""

from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

_PURE_CORE = ("copyloom.engine", "copyloom.domain", "copyloom.errors")
_LIST_ENGINE_IMPORTS = """
import pkgutil, sys
before = set(sys.modules)
import copyloom.engine
for module in pkgutil.walk_packages(copyloom.engine.__path__, "copyloom.engine."):
    __import__(module.name)
print(" ".join(sorted(set(sys.modules) - before)))
"""


def find_circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Each group of modules that import one another (a strongly connected component), as a circle."""
    edges = {module: _imports_run_by(graph, module) for module in graph.modules}
    return [_circle_through(group, edges) for group in _strong_components(edges) if len(group) > 1]


def _imports_run_by(graph: grimp.ImportGraph, importer: str) -> set[str]:
    own_packages = _packages_of(importer)
    run: set[str] = set()
    for imported in graph.find_modules_directly_imported_by(importer):
        run |= {imported} | (_packages_of(imported) - own_packages)
    return run - {importer}


def _packages_of(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts))}


def _strong_components(edges: dict[str, set[str]]) -> list[set[str]]:
    # Tarjan's algorithm; the graph is small enough for recursion.
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for imported in sorted(edges.get(module, ())):
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            component = set()
            while not component or module not in component:
                component.add(stack.pop())
            components.append(component)

    for module in sorted(edges):
        if module not in order:
            visit(module)
    return components


def _circle_through(group: set[str], edges: dict[str, set[str]]) -> list[str]:
    """The shortest path from the group's first module back to itself, within the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for imported in sorted(edges[module] & group):
                if imported == start:
                    return [*paths[module], start]
                if imported not in paths:
                    paths[imported] = [*paths[module], imported]
                    following.append(imported)
        frontier = following
    raise AssertionError(f"not a circle: {sorted(group)}")


def test_no_two_modules_import_each_other() -> None:
    graph = grimp.build_graph("copyloom", cache_dir=None)

    circles = [" -> ".join(circle) for circle in find_circles(graph)]

    assert circles == [], "import circles:\n" + "\n".join(circles)


@pytest.mark.integration  # a fresh interpreter, so nothing imported by the tests themselves counts
def test_the_engine_runs_on_numpy_and_scipy_alone() -> None:
    listed = subprocess.run(
        [sys.executable, "-c", _LIST_ENGINE_IMPORTS], capture_output=True, text=True, check=True
    )
    imported = set(listed.stdout.split())

    packages = {name.partition(".")[0] for name in imported} - set(sys.stdlib_module_names)
    assert {p for p in packages if not p.startswith(("_", "cython"))} <= {"copyloom", "numpy", "scipy"}
    ours = {name for name in imported if name.startswith("copyloom.")}
    assert {name for name in ours if not name.startswith(_PURE_CORE)} == set()


@pytest.mark.parametrize(
    ("imports", "circle"),
    [
        ([("p.a", "p.b"), ("p.b", "p.a")], ["p.a", "p.b", "p.a"]),
        ([("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")], ["p.a", "p.b", "p.c", "p.a"]),
        # p.b's import of p.q.r first runs p.q, whose __init__ imports p.b.
        ([("p.b", "p.q.r"), ("p.q", "p.b")], ["p.b", "p.q", "p.b"]),
    ],
)
def test_a_circle_is_found(imports: list[tuple[str, str]], circle: list[str]) -> None:
    graph = grimp.ImportGraph()
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported)

    assert find_circles(graph) == [circle]


@pytest.mark.parametrize(
    "imports",
    [
        [("p.a", "p.b"), ("p.b", "p.c"), ("p.a", "p.c")],
        # A package's __init__ re-exporting its modules, which import one another: no circle.
        [("p.q", "p.q.r"), ("p.q", "p.q.s"), ("p.q.r", "p.q.s")],
    ],
)
def test_imports_without_a_circle_pass(imports: list[tuple[str, str]]) -> None:
    graph = grimp.ImportGraph()
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported)

    assert find_circles(graph) == []
