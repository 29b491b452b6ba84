"""After `shipflow init` in an empty git repository, `inv --list` and `inv lint` work there, each run as a
user would (the lint runs the real ruff, mypy and bandit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import git, run_shipflow

pytestmark = [pytest.mark.cli, pytest.mark.needs("git")]


def inv(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_init_into_an_empty_repository_then_inv_list_and_inv_lint_work(tmp_path: Path) -> None:
    project = tmp_path / "My Service"
    project.mkdir()
    git(project, "init", "-q")
    done = run_shipflow("init", cwd=project)
    assert done.returncode == 0, done.stderr

    listed = inv(project, "--list")
    assert listed.returncode == 0, listed.stderr
    for name in ("lint", "test", "release", "deploy.local", "docs.build", "git.check"):
        assert name in listed.stdout
    linted = inv(project, "lint")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "lint passed" in linted.stdout
