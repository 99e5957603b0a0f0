"""The shape DESIGN.md §2 draws, held against the code's own imports: layers import only downwards, routes
never reach the store, one name means one thing, and the CLI's modules import without a cycle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "podswitch"

# package -> the podswitch packages it may import (DESIGN.md §2 and docs/architecture.md).
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "config": {"model"},
    "store": {"model"},
    "fabric": {"model"},
    "controller": {"model", "config", "store", "fabric"},
    "client": {"model", "fabric"},
    "api": {"model", "config", "controller", "store"},  # store: only the app factory hands it to the controller
    "agent": {"fabric", "client"},
    "lab": {"agent", "model", "config", "client", "fabric"},  # fabric: the agent contract's names and types
    "cli": {"model", "config", "store", "fabric", "controller", "client", "api", "agent", "lab"},
}
SHARED = {"gc_pause", "daemon", "__init__"}  # small process-wide helpers any layer may use


def _imports(path: Path) -> list[tuple[str, int]]:
    """(podswitch module path, line) of every import of ours in a file, relative ones resolved."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(SRC.parent).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                name = ".".join([*base, *(node.module.split(".") if node.module else [])])
                targets = [name] if node.module else [f"{name}.{a.name}" for a in node.names]
            else:
                targets = [node.module or ""]
            found += [(t, node.lineno) for t in targets if t.startswith("podswitch")]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("podswitch")]
    return found


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and not parts[1].startswith("__") else ""


def test_layers_import_only_downwards() -> None:
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        own = path.relative_to(SRC).parts[0].removesuffix(".py")
        if own in SHARED or own.startswith("_"):
            continue
        for module, line in _imports(path):
            target = _package(module)
            if target and target != own and target not in SHARED and target not in ALLOWED[own]:
                wrong.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    assert wrong == []


def test_no_route_touches_the_store() -> None:
    reaching = [
        f"{path.relative_to(SRC)}:{line} imports {module}"
        for path in sorted((SRC / "api").rglob("*.py"))
        if path.name != "app.py"
        for module, line in _imports(path)
        if _package(module) == "store"
    ]
    assert reaching == []
    routes = "\n".join(p.read_text() for p in (SRC / "api" / "routes").glob("*.py"))
    assert "ctl.store." not in routes and ".store.head(" not in routes


def test_one_name_one_class() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                where[node.name].append(str(path.relative_to(SRC)))
    assert {name: files for name, files in where.items() if len(files) > 1} == {}


def test_the_cli_imports_without_a_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for path in (SRC / "cli").glob("*.py"):
        mod = f"podswitch.cli.{path.stem}"
        graph[mod] = {m for m, _ in _imports(path) if m.startswith("podswitch.cli.") and m != mod}
        # `from . import lab` names a module of the package
        graph[mod] = {m if m.count(".") == 2 else ".".join(m.split(".")[:3]) for m in graph[mod]}
    seen: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if seen.get(node) == 1:
            raise AssertionError("import cycle: " + " -> ".join([*path, node]))
        if seen.get(node) == 2:
            return
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        seen[node] = 2

    for node in sorted(graph):
        visit(node, [])
