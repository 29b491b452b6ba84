"""The `shipflow` console script and `inv` show the same tasks, and every flag parses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support import ShipflowCli, every_task, run_program_in_process


def test_shipflow_lists_its_tasks_without_a_tasks_py(shipflow_cli: ShipflowCli, tmp_path: Path) -> None:
    done = shipflow_cli("--list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "lint" in done.stdout


def test_inv_in_this_repo_lists_the_same_tasks_as_shipflow(
    shipflow_cli: ShipflowCli,
    repo_root: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from invoke.main import program

    monkeypatch.setattr(sys, "path", list(sys.path))  # invoke adds the folder of the tasks.py it loads
    inv = run_program_in_process(capfd, program, ["inv", "--list", "--list-format=json"], cwd=repo_root)
    shipflow = shipflow_cli("--list", "--list-format=json", cwd=repo_root)
    assert inv.returncode == 0, inv.stderr
    assert json.loads(inv.stdout)["tasks"] == json.loads(shipflow.stdout)["tasks"]
    assert json.loads(inv.stdout)["collections"] == json.loads(shipflow.stdout)["collections"]


def test_version_is_reported(shipflow_cli: ShipflowCli) -> None:
    from shipflow import __version__

    done = shipflow_cli("--version", cwd=Path.cwd())
    assert done.stdout.strip() == f"shipflow {__version__}"


def test_every_task_flag_has_a_type_invoke_can_parse() -> None:
    """invoke reads a flag's type from its default; a float default silently becomes a valueless flag."""
    import inspect

    from shipflow.tasks import namespace

    parseable = (bool, int, str, list, type(None))
    wrong = [
        f"{task.name} --{name}"
        for task in every_task(namespace)
        for name, parameter in inspect.signature(task.body).parameters.items()
        if parameter.default is not inspect.Parameter.empty and not isinstance(parameter.default, parseable)
    ]
    assert wrong == []


def test_a_number_flag_given_a_word_is_one_clear_line_not_a_traceback(
    shipflow_cli: ShipflowCli, tmp_path: Path
) -> None:
    done = shipflow_cli("deploy.audit", "--env", "local", "-n", "many", cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip() == "a flag expects a count (e.g. 30), got 'many'; see --help TASK"
