"""`shipflow init` in a project with a tasks.py of its own leaves it alone and prints the lines that give it
shipflow's tasks; those lines work. In a new project the local target's env file is written, with no
secret, so `inv deploy.local` has its settings right after init."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support import ShipflowCli, git, run_program_in_process

pytestmark = [pytest.mark.unit, pytest.mark.needs("git")]

OWN_TASKS = """from invoke import task


@task
def hello(c):
    print("hello from the project")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "svc"
    folder.mkdir()
    git(folder, "init", "-q")
    return folder


def printed_lines(output: str) -> list[str]:
    """The indented lines after the note about tasks.py."""
    return [line.removeprefix("    ") for line in output.splitlines() if line.startswith("    ")]


@pytest.mark.parametrize(
    "own", [OWN_TASKS, OWN_TASKS + "\nfrom invoke import Collection\n\nns = Collection(hello)\n"]
)
def test_an_own_tasks_py_is_kept_and_the_printed_lines_give_it_shipflows_tasks(
    shipflow_cli: ShipflowCli,
    project: Path,
    own: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from invoke.main import program

    (project / "tasks.py").write_text(own)
    done = shipflow_cli("init", "--ci", "none", cwd=project)
    assert done.returncode == 0, done.stderr
    assert (project / "tasks.py").read_text() == own
    assert "tasks.py is your own, so `inv` does not know shipflow's tasks yet" in done.stdout
    lines = printed_lines(done.stdout)
    assert lines and all("import" in line or "=" in line for line in lines)

    (project / "tasks.py").write_text(own + "\n" + "\n".join(lines) + "\n")
    monkeypatch.setattr(sys, "path", list(sys.path))  # invoke adds the folder of the tasks.py it loads
    monkeypatch.delitem(sys.modules, "tasks", raising=False)
    listed = run_program_in_process(capfd, program, ["inv", "--list"], cwd=project)
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert "hello" in names and "env.check" in names and "deploy.local" in names

    again = shipflow_cli("init", "--ci", "none", cwd=project)
    assert "does not know shipflow's tasks" not in again.stdout


def test_a_new_project_gets_the_local_targets_env_file_and_it_passes_env_check(
    shipflow_cli: ShipflowCli, project: Path
) -> None:
    done = shipflow_cli("init", "--ci", "none", cwd=project)
    assert "wrote    envs/.env.local" in done.stdout
    checked = shipflow_cli("env.check", "--env", "local", cwd=project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = (project / "envs" / ".env.local").read_text()
    secrets = [
        line.split("=", 1)[1]
        for line in text.splitlines()
        if line.startswith(("SECRET_KEY=", "INTERNAL_API"))
    ]
    assert secrets and all("insecure" in value for value in secrets)
