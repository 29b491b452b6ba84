"""The `shipflow` console script and `inv` start fast and show the same tasks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import run_shipflow

HEAVY_MODULES = ("docker", "fabric", "paramiko", "alembic", "sqlalchemy", "yaml", "dotenv")


def test_shipflow_lists_its_tasks_without_a_tasks_py(tmp_path: Path) -> None:
    done = run_shipflow("--list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "lint" in done.stdout


def test_inv_in_this_repo_lists_the_same_tasks_as_shipflow(repo_root: Path) -> None:
    inv = subprocess.run(
        [sys.executable, "-m", "invoke", "--list", "--list-format=json"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    shipflow = run_shipflow("--list", "--list-format=json", cwd=repo_root)
    assert inv.returncode == 0, inv.stderr
    assert json.loads(inv.stdout)["tasks"] == json.loads(shipflow.stdout)["tasks"]
    assert json.loads(inv.stdout)["collections"] == json.loads(shipflow.stdout)["collections"]


def heavy_modules_loaded_by(statement: str) -> set[str]:
    probe = f"import sys; {statement}; print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(filter(None, done.stdout.strip().split(",")))


def test_listing_tasks_imports_no_heavy_library_beyond_invokes_own() -> None:
    assert heavy_modules_loaded_by("import shipflow.tasks") == heavy_modules_loaded_by("import invoke")


def test_version_is_reported() -> None:
    from shipflow import __version__

    done = run_shipflow("--version", cwd=Path.cwd())
    assert done.stdout.strip() == f"shipflow {__version__}"


def test_every_task_flag_has_a_type_invoke_can_parse() -> None:
    """invoke reads a flag's type from its default; a float default silently becomes a valueless flag."""
    import inspect

    from invoke.collection import Collection

    from shipflow.tasks import namespace

    def tasks(collection: Collection) -> list[object]:
        found = list(collection.tasks.values())
        for child in collection.collections.values():
            found.extend(tasks(child))
        return found

    parseable = (bool, int, str, list, type(None))
    wrong = [
        f"{task.name} --{name}"  # type: ignore[attr-defined]
        for task in tasks(namespace)
        for name, parameter in inspect.signature(task.body).parameters.items()  # type: ignore[attr-defined]
        if parameter.default is not inspect.Parameter.empty and not isinstance(parameter.default, parseable)
    ]
    assert wrong == []


def test_a_number_flag_given_a_word_is_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    done = run_shipflow("deploy.audit", "--env", "local", "-n", "many", cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip() == "a flag expects a count (e.g. 30), got 'many'; see --help TASK"
