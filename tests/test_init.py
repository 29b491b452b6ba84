"""`shipflow init` adds the workflow to a project: into an empty git repository; run again, it overwrites
nothing. That `inv --list` and `inv lint` then work there is in test_init_then_inv.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import ShipflowCli, git

from shipflow.scaffold import TEMPLATE_FILES, app_name

pytestmark = [pytest.mark.unit, pytest.mark.needs("git")]

EXPECTED = {destination for _, destination in TEMPLATE_FILES} | {
    ".github/workflows/ci.yml",
    ".github/workflows/deploy-prod.yml",
    ".github/workflows/docs.yml",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "My Service"
    folder.mkdir()
    git(folder, "init", "-q")
    return folder


def written_by(output: str) -> set[str]:
    return {line.split()[1] for line in output.splitlines() if line.startswith("wrote ")}


def test_init_into_an_empty_repository_writes_every_file_named_for_the_folder(
    shipflow_cli: ShipflowCli, project: Path
) -> None:
    done = shipflow_cli("init", cwd=project)
    assert done.returncode == 0, done.stderr
    assert written_by(done.stdout) == EXPECTED
    assert all((project / relative).is_file() for relative in EXPECTED)
    assert 'app = "my-service"' in (project / "deploy" / "deploy.toml").read_text()
    assert "APP_NAME=my-service" in (project / "envs" / ".env").read_text()


def test_the_env_files_it_writes_pass_env_check(shipflow_cli: ShipflowCli, project: Path) -> None:
    shipflow_cli("init", cwd=project)
    done = shipflow_cli("env.check", cwd=project, env={**os.environ, "APP_ENV": ""})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    development" in done.stdout and "ok    test" in done.stdout


def test_init_never_overwrites_and_lists_what_it_skipped(shipflow_cli: ShipflowCli, project: Path) -> None:
    (project / "tasks.py").write_text("# mine\n")
    (project / ".gitignore").write_text("*.pyc\n")
    done = shipflow_cli("init", "--ci", "gitlab", cwd=project)
    assert done.returncode == 0, done.stderr
    assert (project / "tasks.py").read_text() == "# mine\n"
    assert (project / ".gitignore").read_text() == "*.pyc\n"
    assert "skipped  tasks.py (exists; left as it is)" in done.stdout
    assert "add to .gitignore (real settings must never be committed): envs/.env.staging" in done.stdout
    assert (project / ".gitlab-ci.yml").is_file() and not (project / ".github").exists()

    before = {
        path: path.read_bytes() for path in project.rglob("*") if path.is_file() and ".git/" not in str(path)
    }
    again = shipflow_cli("init", "--ci", "gitlab", cwd=project)
    assert again.returncode == 0 and "wrote" not in again.stdout
    assert {path: path.read_bytes() for path in before} == before


def test_an_unknown_ci_provider_writes_nothing(shipflow_cli: ShipflowCli, project: Path) -> None:
    done = shipflow_cli("init", "--ci", "jenkins", cwd=project)
    assert done.returncode == 2
    assert "unknown --ci jenkins" in done.stderr
    assert [path.name for path in project.iterdir()] == [".git"]


def test_app_names_are_what_docker_and_nginx_accept(tmp_path: Path) -> None:
    assert app_name(tmp_path / "Shop API") == "shop-api"
    assert app_name(tmp_path / "_x") == "x"
