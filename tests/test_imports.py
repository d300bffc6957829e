"""The import graph of backend/ and wxemu/, read from the source with `ast` (nothing is imported).

- No cycle among modules: imports point down (docs/design.md), so any module can be loaded,
  and understood, before the ones that use it.
- No import of wxemu from backend: the emulator is for development and tests, never a part of
  the production backend.
- No import of backend from wxemu: the emulator is an independent witness of WeChat
  (docs/wechat.md); sharing the backend's rules or crypto would hide the backend's mistakes.

Every import that runs counts, also one inside a function: a deferred import is still a
dependency, and deferring one is how a cycle hides. An import under `if TYPE_CHECKING:` never
runs, so it makes no cycle (a type hint may name a module that imports this one); it still may
not cross between backend and wxemu, as that is knowing the other side all the same.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("backend", "wxemu")
# Modules that may not import one another's package: (importer's package, forbidden package).
FORBIDDEN = (("backend", "wxemu"), ("wxemu", "backend"))


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """{dotted module name: file} of every .py file under the packages' folders in `root`."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> list[tuple[str, int, bool]]:
    """(absolute dotted name, line, for the type checker only) of each import, relative ones resolved.

    `from pkg import name` gives `pkg.name`: the caller keeps it when that is a module and falls
    back to `pkg` (the name is then an attribute of pkg) otherwise.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    type_only = {id(node) for block in ast.walk(tree) if _is_type_checking_block(block) for node in _walk_body(block)}
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                if node.level - 1 > len(parts):
                    raise ValueError(f"{path}:{node.lineno}: relative import beyond the top-level package")
                base = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found = [f"{base}.{alias.name}" if alias.name != "*" else base for alias in node.names]
        elif _is_import_module_call(node):
            found = [node.args[0].value]
        else:
            continue
        names += [(name, node.lineno, id(node) in type_only) for name in found]
    return names


def _is_type_checking_block(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk_body(block: ast.If):
    """Every node of the `if` branch (its `else` runs)."""
    for statement in block.body:
        yield from ast.walk(statement)


def _is_import_module_call(node: ast.AST) -> bool:
    """`importlib.import_module("x")` or `__import__("x")` with a literal name: an import all the same."""
    if not isinstance(node, ast.Call) or not node.args:
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    first = node.args[0]
    return name in ("import_module", "__import__") and isinstance(first, ast.Constant) and isinstance(first.value, str)


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module `name` loads: itself, or its nearest enclosing module (an attribute's owner)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(root: Path, packages: tuple[str, ...]) -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    """(module -> the modules of `packages` it imports when it runs, [(module, name, line)] of every import)."""
    modules = module_files(root, packages)
    graph: dict[str, set[str]] = {module: set() for module in modules}
    imports = []
    for module, path in modules.items():
        for name, line, type_only in imported_names(module, path):
            imports.append((module, name, line))
            target = _known(name, modules)
            if target is not None and target != module and not type_only:
                graph[module].add(target)
    return graph, imports


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle, as a path a -> ... -> a, per group of modules that import one another."""
    found = []
    for group in _strongly_connected(graph):
        if len(group) > 1:
            found.append(_cycle_through(min(group), graph, group))
    return sorted(found)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative: a deep chain of imports must not hit the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def _cycle_through(start: str, graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """The shortest path from `start` back to itself inside `group` (breadth first)."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & group):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start] if node != start else [start, start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"{start} is in a cycle group but no cycle was found")


def forbidden_imports(imports: list[tuple[str, str, int]]) -> list[str]:
    """`module:line imports name` for each import across a FORBIDDEN boundary."""
    found = []
    for module, name, line in imports:
        for importer, target in FORBIDDEN:
            if _in_package(module, importer) and _in_package(name, target):
                found.append(f"{module}:{line} imports {name}")
    return found


def _in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


# The project itself.


@pytest.fixture(scope="module")
def project() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    return import_graph(ROOT, PACKAGES)


def test_the_graph_covers_both_packages(project):
    graph, _ = project
    assert {"backend", "backend.settings", "wxemu", "wxemu.crypto"} <= graph.keys()
    assert "backend.settings" in graph["backend.config"]


def test_no_module_is_in_an_import_cycle(project):
    graph, _ = project
    found = [" -> ".join(cycle) for cycle in cycles(graph)]
    assert not found, "import cycles (move what both sides need into a module below them):\n" + "\n".join(found)


def test_the_backend_does_not_import_the_emulator_nor_the_emulator_the_backend(project):
    _, imports = project
    found = forbidden_imports(imports)
    assert not found, "imports between backend/ and wxemu/:\n" + "\n".join(found)


# The checker, on small made-up trees: it must catch what it is for.


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_relative_imports_and_from_package_import_module_resolve(tmp_path):
    root = write(
        tmp_path,
        {
            "backend/__init__.py": "from .api import views\n",
            "backend/api/__init__.py": "",
            "backend/api/views.py": "from ..wechat import client\nfrom . import schemas\nfrom .schemas import LANGS\n",
            "backend/api/schemas.py": "import backend.wechat.crypto\nLANGS = ()\n",
            "backend/wechat/__init__.py": "",
            "backend/wechat/client.py": "from backend.wechat import crypto, NAME\n",
            "backend/wechat/crypto.py": "import hashlib\n",
        },
    )
    graph, _ = import_graph(root, ("backend",))
    assert graph == {
        "backend": {"backend.api.views"},
        "backend.api": set(),
        "backend.api.views": {"backend.wechat.client", "backend.api.schemas"},
        "backend.api.schemas": {"backend.wechat.crypto"},
        "backend.wechat": set(),
        "backend.wechat.client": {"backend.wechat.crypto", "backend.wechat"},
        "backend.wechat.crypto": set(),
    }


def test_a_cycle_is_reported_as_its_path(tmp_path):
    root = write(
        tmp_path,
        {
            "backend/__init__.py": "",
            "backend/a.py": "from backend import b\n",
            "backend/b.py": "def later():\n    from . import c\n",  # deferred: still a dependency
            "backend/c.py": "from backend.a import thing\n",
            "backend/d.py": "import backend.a\n",
        },
    )
    graph, _ = import_graph(root, ("backend",))
    assert cycles(graph) == [["backend.a", "backend.b", "backend.c", "backend.a"]]


def test_an_import_for_the_type_checker_only_makes_no_cycle(tmp_path):
    type_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from backend.client import Client\n"
    files = {
        "backend/__init__.py": "",
        "backend/client.py": "def auth():\n    from backend.auth import Auth\n",
        "backend/auth.py": type_only,
    }
    graph, _ = import_graph(write(tmp_path, files), ("backend",))
    assert cycles(graph) == []
    # Its `else` runs, though.
    (tmp_path / "backend/auth.py").write_text(type_only + "else:\n    import backend.client\n")
    graph, _ = import_graph(tmp_path, ("backend",))
    assert cycles(graph) == [["backend.auth", "backend.client", "backend.auth"]]


def test_imports_across_the_boundary_are_caught_however_written(tmp_path):
    root = write(
        tmp_path,
        {
            "backend/__init__.py": "",
            "backend/ops/__init__.py": "",
            "backend/ops/cli.py": "def run():\n    from wxemu import serve\n    from wxemu.apps_file import X\n",
            "backend/ops/lazy.py": "import importlib\nimportlib.import_module('wxemu.server')\n",
            "backend/hints.py": "import typing\nif typing.TYPE_CHECKING:\n    from wxemu.state import State\n",
            "backend/ok.py": "import wxemulator_lookalike\n",
            "wxemu/__init__.py": "",
            "wxemu/pusher.py": "from backend.wechat.crypto import PushCipher\n",
        },
    )
    _, imports = import_graph(root, PACKAGES)
    assert forbidden_imports(imports) == [
        "backend.hints:3 imports wxemu.state.State",
        "backend.ops.cli:2 imports wxemu.serve",
        "backend.ops.cli:3 imports wxemu.apps_file.X",
        "backend.ops.lazy:2 imports wxemu.server",
        "wxemu.pusher:1 imports backend.wechat.crypto.PushCipher",
    ]
