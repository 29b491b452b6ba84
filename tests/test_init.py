"""`shipflow init` adds the workflow to a project: into an empty git repository, then `inv --list` and
`inv lint` work there; run again, it overwrites nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import run_shipflow

from shipflow.scaffold import TEMPLATE_FILES, app_name

pytestmark = [pytest.mark.unit, pytest.mark.needs("git")]

EXPECTED = {destination for _, destination in TEMPLATE_FILES} | {
    ".github/workflows/ci.yml",
    ".github/workflows/deploy-prod.yml",
    ".github/workflows/docs.yml",
}


def inv(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "My Service"
    folder.mkdir()
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    return folder


def written_by(output: str) -> set[str]:
    return {line.split()[1] for line in output.splitlines() if line.startswith("wrote ")}


def test_init_into_an_empty_repository_then_inv_list_and_inv_lint_work(project: Path) -> None:
    done = run_shipflow("init", cwd=project)
    assert done.returncode == 0, done.stderr
    assert written_by(done.stdout) == EXPECTED
    assert all((project / relative).is_file() for relative in EXPECTED)
    assert 'app = "my-service"' in (project / "deploy" / "deploy.toml").read_text()
    assert "APP_NAME=my-service" in (project / "envs" / ".env").read_text()

    listed = inv(project, "--list")
    assert listed.returncode == 0, listed.stderr
    for name in ("lint", "test", "release", "deploy.local", "docs.build", "git.check"):
        assert name in listed.stdout
    linted = inv(project, "lint")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "lint passed" in linted.stdout


def test_the_env_files_it_writes_pass_env_check(project: Path) -> None:
    run_shipflow("init", cwd=project)
    done = run_shipflow("env.check", cwd=project, env={**os.environ, "APP_ENV": ""})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    development" in done.stdout and "ok    test" in done.stdout


def test_init_never_overwrites_and_lists_what_it_skipped(project: Path) -> None:
    (project / "tasks.py").write_text("# mine\n")
    (project / ".gitignore").write_text("*.pyc\n")
    done = run_shipflow("init", "--ci", "gitlab", cwd=project)
    assert done.returncode == 0, done.stderr
    assert (project / "tasks.py").read_text() == "# mine\n"
    assert (project / ".gitignore").read_text() == "*.pyc\n"
    assert "skipped  tasks.py (exists; left as it is)" in done.stdout
    assert "add to .gitignore (real settings must never be committed): envs/.env.staging" in done.stdout
    assert (project / ".gitlab-ci.yml").is_file() and not (project / ".github").exists()

    before = {
        path: path.read_bytes() for path in project.rglob("*") if path.is_file() and ".git/" not in str(path)
    }
    again = run_shipflow("init", "--ci", "gitlab", cwd=project)
    assert again.returncode == 0 and "wrote" not in again.stdout
    assert {path: path.read_bytes() for path in before} == before


def test_an_unknown_ci_provider_writes_nothing(project: Path) -> None:
    done = run_shipflow("init", "--ci", "jenkins", cwd=project)
    assert done.returncode == 2
    assert "unknown --ci jenkins" in done.stderr
    assert [path.name for path in project.iterdir()] == [".git"]


def test_app_names_are_what_docker_and_nginx_accept(tmp_path: Path) -> None:
    assert app_name(tmp_path / "Shop API") == "shop-api"
    assert app_name(tmp_path / "_x") == "x"
