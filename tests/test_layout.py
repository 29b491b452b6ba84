"""The package's shape holds: no module imports itself back through others (imports inside functions count;
those under ``if TYPE_CHECKING:`` do not), and every task body stays a few lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support import REPO

pytestmark = pytest.mark.unit

PACKAGE = REPO / "src" / "shipflow"
MAX_TASK_BODY_LINES = 15


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The shipflow modules ``path`` imports at run time (wherever the import statement stands)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _type_checking_only(node)
               for child in node.body for n in ast.walk(child)}  # fmt: skip
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    known = set(paths)
    return {name: imported_modules(path, known) - {name} for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back_through_others() -> None:
    graph = import_graph()
    assert "shipflow.deploy.bluegreen" in graph and graph["shipflow.tasks.deploy"]
    assert cycles(graph) == []


def test_the_cycle_finder_sees_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def task_bodies() -> dict[str, int]:
    """``module.task`` -> the lines of its body (docstring excluded) for every ``@task`` in shipflow.tasks."""
    bodies = {}
    for path in sorted((PACKAGE / "tasks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef) or not any(
                (isinstance(d, ast.Call) and getattr(d.func, "id", "") == "task")
                or getattr(d, "id", "") == "task"
                for d in node.decorator_list
            ):
                continue
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            end = body[-1].end_lineno or body[-1].lineno
            bodies[f"{path.stem}.{node.name}"] = end - body[0].lineno + 1
    return bodies


def test_every_task_body_is_a_few_lines() -> None:
    bodies = task_bodies()
    assert len(bodies) >= 27
    assert {name: lines for name, lines in bodies.items() if lines > MAX_TASK_BODY_LINES} == {}
