"""`inv test`: the pytest it runs, and what it refuses before running it (real runs are in
test_test_task_runs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ShipflowCli

from shipflow.testing.runner import args_after_double_dash, child_environment, pytest_argv

pytestmark = pytest.mark.unit


def test_a_group_is_switched_on_and_selected() -> None:
    assert pytest_argv("/py", groups=["unit", "docker"]) == [
        "/py",
        "-m",
        "pytest",
        "--groups=+unit,+docker",
        "-m",
        "unit or docker",
    ]
    assert pytest_argv("/py", all_groups=True, extra=["-x"]) == ["/py", "-m", "pytest", "--all-groups", "-x"]


def test_variables_already_set_win_over_the_env_files() -> None:
    env = child_environment({"DATABASE_URL": "from-file", "APP_ENV": "test"}, {"DATABASE_URL": "from-shell"})
    assert env == {"DATABASE_URL": "from-shell", "APP_ENV": "test"}


def test_pytest_gets_what_follows_the_double_dash() -> None:
    assert args_after_double_dash(["inv", "test", "--group", "unit", "--", "-k", "a or b", "--", "x"]) == [
        "-k",
        "a or b",
        "--",
        "x",
    ]
    assert args_after_double_dash(["inv", "test"]) == []


@pytest.fixture
def broken_env_project(tmp_path: Path) -> Path:
    """A project whose test env file names a variable defined nowhere, and one test that would pass."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'small'\n")
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / ".env.test").write_text("GREETING=${UNDEFINED_ANYWHERE}\n")
    (tmp_path / "test_app.py").write_text("def test_in_no_group():\n    pass\n")
    return tmp_path


def test_a_broken_env_file_is_reported_and_nothing_runs(
    shipflow_cli: ShipflowCli, broken_env_project: Path
) -> None:
    done = shipflow_cli("test", cwd=broken_env_project)
    assert done.returncode == 2
    assert done.stderr.startswith("test: ")
    assert "envs/.env.test" in done.stderr and "UNDEFINED_ANYWHERE" in done.stderr
    assert "Traceback" not in done.stderr
    assert "passed" not in done.stdout
