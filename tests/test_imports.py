"""No import circle anywhere in the package: every import statement (at the top of a module, inside
a function, or under ``TYPE_CHECKING``) is an edge from its module to the package module it names,
and the graph of those edges has no cycle."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

#: the installed top-level package and the sub-packages that live in folders of their own
PACKAGES = ("mmalign", "mmalign.eval", "mmalign.data_gen")


def installed_folders() -> dict[str, Path]:
    """Package name → its folder, as installed (finding them imports only ``mmalign`` itself)."""
    return {package: Path(*importlib.util.find_spec(package).submodule_search_locations) for package in PACKAGES}


def package_modules(folders: dict[str, Path]) -> dict[str, Path]:
    """Module name → source file, for every module under the packages' folders (none is imported)."""
    modules: dict[str, Path] = {}
    for package, folder in folders.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules.setdefault(".".join((package, *parts)), path)
    return modules


def imported_names(module: str, path: Path) -> set[str]:
    """The dotted names the import statements of ``module`` name (``from X import n`` → ``X.n``,
    which is the module ``X.n`` if there is one, else a name in ``X``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(part for part in (*anchor, base) if part)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the package modules it imports (a name inside a module counts as that module).

    Parent packages, which Python imports before any submodule, are not edges of their own: a
    package importing its submodules would otherwise always be in a circle with them."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in imported_names(module, path):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path ``a → … → a``) through each strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [cycle_through(graph, group) for group in groups]


def cycle_through(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    return paths[node] + [start]
                if target not in paths:
                    paths[target] = paths[node] + [target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {sorted(group)}")


def test_the_package_has_no_import_circle():
    modules = package_modules(installed_folders())
    assert {"mmalign.train", "mmalign.eval.runner", "mmalign.data_gen.runner"} <= set(modules)
    cycles = find_cycles(import_graph(modules))
    assert not cycles, "import circles:\n" + "\n".join(" → ".join(cycle) for cycle in cycles)


def test_cycle_finder_on_a_known_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e2"}, "e2": {"e"}, "f": {"d"}}
    assert sorted(find_cycles(graph)) == [["a", "b", "c", "a"], ["e", "e2", "e"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_graph_counts_lazy_relative_and_type_checking_imports(tmp_path):
    files = {
        "pkg/__init__.py": "from .a import x\n",
        "pkg/a.py": "import os\nx = 1\ndef f():\n    from .sub import b\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import x\nfrom .. import c\n",
        "pkg/c.py": "import pkg.sub\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(package_modules({"pkg": tmp_path / "pkg"}))
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.sub.b"}, "pkg.sub": set(), "pkg.sub.b": {"pkg.a", "pkg.c"},
                     "pkg.c": {"pkg.sub"}}  # fmt: skip
    assert find_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.a"]]
