"""`inv env.check` and `inv env.show` run as a user would (in this process), on projects copied from this
repository."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support import Ran, ShipflowCli, git

pytestmark = [pytest.mark.unit, pytest.mark.needs("git")]

CANARY_KEY = "canary-7f3a9c1e5b2d8f4a6c0e9b7d3f1a5c8e"
CANARY_PASSWORD = "canary-pw-2b8e6d4f"
CANARY_TOKEN = "canary-tok-9d1c7e3a"
GOOD_PRODUCTION = {
    "ENV": "production",
    "DEBUG": "false",
    "LOG_LEVEL": "WARNING",
    "CORS_ORIGINS": "https://app.example.com",
    "DATABASE_URL": f"postgresql://app:{CANARY_PASSWORD}@db.example.com:5432/app",
    "REDIS_URL": f"redis://:{CANARY_PASSWORD}@cache.example.com:6379/0",
    "SECRET_KEY": CANARY_KEY,
    "INTERNAL_API_TOKEN": CANARY_TOKEN,
}


def clean_environ(**extra: str) -> dict[str, str]:
    """The test process's environment without variables that would choose or override settings."""
    keep = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG", "PYTHONPATH"}}
    return {**keep, **extra}


@pytest.fixture
def project(repo_root: Path, tmp_path: Path) -> Path:
    """A copy of this repository's pyproject.toml and envs/, in a git work tree of its own."""
    shutil.copy(repo_root / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        repo_root / "envs",
        tmp_path / "envs",
        ignore=shutil.ignore_patterns(".env.staging", ".env.production"),
    )
    git(tmp_path, "init", "-q")
    return tmp_path


def write_production(root: Path, values: dict[str, str]) -> None:
    text = "".join(f"{key}={value}\n" for key, value in values.items())
    (root / "envs" / ".env.production").write_text(text, encoding="utf-8")


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in sorted((root / "envs").iterdir())}


def assert_no_canary(done: Ran) -> None:
    output = done.stdout + done.stderr
    assert CANARY_KEY not in output
    assert CANARY_PASSWORD not in output
    assert CANARY_TOKEN not in output
    assert "canary-" not in output, output


def test_check_passes_on_the_committed_environments(shipflow_cli: ShipflowCli, project: Path) -> None:
    done = shipflow_cli("env.check", cwd=project, env=clean_environ())
    assert done.returncode == 0, done.stdout + done.stderr
    for environment in ("development", "test", "local"):
        assert f"ok    {environment}" in done.stdout
    assert "production" not in done.stdout  # no envs/.env.production: not checked


def test_the_production_example_copied_fails_listing_every_placeholder(
    shipflow_cli: ShipflowCli, project: Path
) -> None:
    shutil.copy(project / "envs" / ".env.production.example", project / "envs" / ".env.production")
    before = snapshot(project)
    done = shipflow_cli("env.check", "--env", "production", cwd=project, env=clean_environ())
    assert done.returncode == 2
    placeholder_lines = [line for line in done.stdout.splitlines() if "placeholder" in line]
    for key in ("CORS_ORIGINS", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "INTERNAL_API_TOKEN"):
        assert any(f" {key}:" in line and "envs/.env.production:" in line for line in placeholder_lines), key
    assert snapshot(project) == before


def test_the_production_file_with_good_values_passes(shipflow_cli: ShipflowCli, project: Path) -> None:
    write_production(project, GOOD_PRODUCTION)
    done = shipflow_cli("env.check", "--env", "prod", cwd=project, env=clean_environ())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    production" in done.stdout
    assert_no_canary(done)


def test_a_missing_production_file_says_how_to_create_it(shipflow_cli: ShipflowCli, project: Path) -> None:
    done = shipflow_cli("env.check", "--env", "production", cwd=project, env=clean_environ())
    assert done.returncode == 2
    assert "cp envs/.env.production.example envs/.env.production" in done.stdout
    assert "Traceback" not in done.stderr


def test_an_unknown_environment_lists_the_known_ones(shipflow_cli: ShipflowCli, project: Path) -> None:
    for args in (["env.check", "--env", "qa"], ["env.show", "--env", "qa"]):
        done = shipflow_cli(*args, cwd=project, env=clean_environ())
        assert done.returncode == 2
        assert "unknown environment 'qa'" in done.stderr
        assert "development, test, staging, production, local" in done.stderr
        assert "Traceback" not in done.stderr


def test_show_lists_keys_masked_values_and_where_each_was_set(
    shipflow_cli: ShipflowCli, project: Path
) -> None:
    write_production(project, GOOD_PRODUCTION)
    done = shipflow_cli("env.show", cwd=project, env=clean_environ(APP_ENV="production", LOG_LEVEL="ERROR"))
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[2:]}
    assert rows["APP_NAME"] == ["shipflow-example", "envs/.env:3"]
    assert rows["SECRET_KEY"] == ["****", "envs/.env.production:7"]
    assert rows["DATABASE_URL"] == ["postgresql://app:****@db.example.com:5432/app", "envs/.env.production:5"]
    assert rows["LOG_LEVEL"] == ["ERROR", "process", "environment"]
    assert_no_canary(done)


def test_a_secret_from_the_process_environment_is_masked_too(
    shipflow_cli: ShipflowCli, project: Path
) -> None:
    done = shipflow_cli("env.show", "--env", "dev", cwd=project, env=clean_environ(SECRET_KEY=CANARY_KEY))
    assert done.returncode == 0, done.stderr
    assert_no_canary(done)


@pytest.mark.parametrize(
    "broken",
    [
        {"DEBUG": "true", "CORS_ORIGINS": "*", "LOG_LEVEL": "DEBUG"},  # production rules
        {"SECRET_KEY": CANARY_KEY[:20]},  # too short
        {"PORT": CANARY_TOKEN},  # wrong type, value is a canary
        {"DATABASE_URL": f"app:{CANARY_PASSWORD}@db"},  # malformed URL holding a password
        {"EXTRA": "${UNDEFINED_HOST}"},  # interpolation of an undefined variable
    ],
)
def test_canary_secrets_never_appear_in_any_failing_run(
    shipflow_cli: ShipflowCli, project: Path, broken: dict[str, str]
) -> None:
    write_production(project, {**GOOD_PRODUCTION, **broken})
    for args in (["env.check"], ["env.check", "--env", "production"], ["env.show", "--env", "production"]):
        done = shipflow_cli(*args, cwd=project, env=clean_environ())
        assert_no_canary(done)
    assert shipflow_cli("env.check", cwd=project, env=clean_environ()).returncode == 2


def test_canary_secrets_never_appear_when_lines_are_malformed(
    shipflow_cli: ShipflowCli, project: Path
) -> None:
    text = (
        f"SECRET_KEY '{CANARY_KEY}\nDATABASE_URL=postgresql://app:{CANARY_PASSWORD}@db/app\nDATABASE_URL=x\n"
    )
    (project / "envs" / ".env.production").write_text(text, encoding="utf-8")
    for args in (["env.check", "--env", "production"], ["env.show", "--env", "production"]):
        done = shipflow_cli(*args, cwd=project, env=clean_environ())
        assert done.returncode == 2
        assert "envs/.env.production:1" in done.stdout
        assert_no_canary(done)


def test_a_committed_production_file_fails_the_guard_without_showing_its_secrets(
    shipflow_cli: ShipflowCli, project: Path
) -> None:
    write_production(project, GOOD_PRODUCTION)
    git(project, "add", "-f", "envs")
    done = shipflow_cli("env.check", cwd=project, env=clean_environ())
    assert done.returncode == 2
    assert "git rm --cached envs/.env.production" in done.stdout
    assert_no_canary(done)


def test_a_non_utf8_file_fails_cleanly(shipflow_cli: ShipflowCli, project: Path) -> None:
    (project / "envs" / ".env.test").write_bytes(b"ENV=test\nAPP_NAME=caf\xe9\n")
    done = shipflow_cli("env.check", "--env", "test", cwd=project, env=clean_environ())
    assert done.returncode == 2
    assert "envs/.env.test:2: not UTF-8" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_bad_schema_in_pyproject_fails_cleanly(shipflow_cli: ShipflowCli, project: Path) -> None:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace('PORT = { type = "int"', 'PORT = { type = "number"'),
        encoding="utf-8",
    )
    done = shipflow_cli("env.check", cwd=project, env=clean_environ())
    assert done.returncode == 2
    assert "pyproject.toml" in done.stderr and "PORT" in done.stderr and "number" in done.stderr


def test_the_tasks_explain_their_flags(shipflow_cli: ShipflowCli, project: Path) -> None:
    for name in ("env.check", "env.show"):
        done = shipflow_cli("--help", name, cwd=project, env=clean_environ())
        assert "--env" in done.stdout and "production" in done.stdout
