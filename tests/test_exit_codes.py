"""A command line that cannot be parsed, or a flag that names nothing, exits 2 (bad input, nothing ran)
under `shipflow` and under `inv`, with one line and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import ShipflowCli, run_program_in_process, user_environ

PARSE_ERRORS: list[tuple[str, ...]] = [
    ("deploy.rollback", "--env"),
    ("deploy.rollback", "--env", "local", "--wait", "-5"),
    ("deploy.rollback", "--env", "local", "--wait", "abc"),
    ("deploy.prod", "--parallel", "-1"),
    ("release", "--version"),
    ("db.new",),
    ("deploy.prod", "--no-such-flag"),
    ("--no-such-flag",),
    ("no-such-task",),
    ("--help", "no-such-task"),
    ("--list", "no-such-collection"),
    ("deploy.maintenance", "--env", "local"),
    ("deploy.maintenance", "--env", "local", "on", "--retry-after", "soon"),
    ("deploy.maintenance", "--env", "local", "maybe"),
    ("deploy.maintenance", "--env", "local", "on", "--retry-after", "0"),
    ("deploy.maintenance", "--env", "local", "off", "--message", "bye"),
    ("deploy.promote", "--from"),
    ("deploy.promote", "--wait", "soon"),
    ("deploy.promote", "--parallel", "0"),
    ("gate.load", "--env"),
    ("build", "--archive"),
]


@pytest.mark.unit
@pytest.mark.parametrize("argv", PARSE_ERRORS, ids=" ".join)
def test_shipflow_refuses_a_bad_command_line_with_exit_2(
    shipflow_cli: ShipflowCli, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    done = shipflow_cli(*argv, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.unit
@pytest.mark.parametrize("argv", PARSE_ERRORS, ids=" ".join)
def test_inv_refuses_a_bad_command_line_with_exit_2(
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    repo_root: Path,
    argv: tuple[str, ...],
) -> None:
    from invoke.main import program

    monkeypatch.setattr(sys, "path", list(sys.path))  # invoke adds the folder of the tasks.py it loads
    done = run_program_in_process(capfd, program, ["inv", *argv], cwd=repo_root)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.unit
def test_a_bad_flag_names_the_help_of_its_task_and_masks_what_it_echoes(
    shipflow_cli: ShipflowCli, tmp_path: Path
) -> None:
    missing = shipflow_cli("deploy.rollback", "--env", cwd=tmp_path)
    assert "`shipflow --help deploy.rollback` lists its flags" in missing.stderr
    leaked = shipflow_cli("db.check", "postgresql://app:hunter2-canary@db/app", cwd=tmp_path)
    assert leaked.returncode == 2 and "hunter2-canary" not in leaked.stderr
    long = shipflow_cli("deploy.prod", "--" + "x" * 100_000, cwd=tmp_path)
    assert long.returncode == 2 and len(long.stderr) < 400


@pytest.mark.unit
@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (("db.migrate", "--to", ""), "db.migrate: --to is empty"),
        (("db.migrate", "--to", "  "), "db.migrate: --to is empty"),
        (("db.new", "-m", ""), "db.new: -m/--message is empty"),
        (("db.new", "-m", "!!"), "db.new: -m/--message has no letter or digit"),
        (("init", "--path", ""), "init: --path is empty"),
    ],
)
def test_a_flag_that_names_nothing_is_refused_before_anything_runs(
    shipflow_cli: ShipflowCli, tmp_path: Path, argv: tuple[str, ...], said: str
) -> None:
    done = shipflow_cli(*argv, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(said)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.cli
@pytest.mark.parametrize(
    "argv", [("deploy.rollback", "--env"), ("deploy.prod", "--parallel", "-1"), ("db.new",)]
)
def test_the_inv_command_exits_2_on_a_bad_flag(repo_root: Path, argv: tuple[str, ...]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "invoke", *argv],
        cwd=repo_root,
        env=user_environ(),
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
