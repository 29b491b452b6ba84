"""`inv db.*` against a real PostgreSQL (started by scripts/setup.sh): migrate, status, and db.check's round
trip in a scratch schema that is dropped afterwards."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from db_support import make_db_project, shipflow

pytestmark = [pytest.mark.postgres, pytest.mark.needs("postgres")]

PASSWORD = f"pg-{uuid.uuid4().hex[:16]}"


def psql(sql: str, database: str = "postgres") -> str:
    done = subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-v",
            "ON_ERROR_STOP=1",
            "-qtAX",
            "-d",
            database,
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A role and a database of their own for this run, dropped at the end."""
    suffix = uuid.uuid4().hex[:8]
    role, database = f"shipflow_test_{suffix}", f"shipflow_test_{suffix}"
    psql(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
    psql(f"CREATE DATABASE {database} OWNER {role}")
    yield f"postgresql://{role}:{PASSWORD}@127.0.0.1:5432/{database}"
    psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    psql(f"DROP ROLE IF EXISTS {role}")


def tables(url: str) -> list[str]:
    database = url.rsplit("/", 1)[1]
    return psql(
        "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname NOT IN "
        "('pg_catalog', 'information_schema') ORDER BY 1",
        database,
    ).split()


def schemas(url: str) -> list[str]:
    return psql(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'shipflow_check_%'", url.rsplit("/", 1)[1]
    ).split()


def test_migrate_and_status_on_postgresql_with_the_password_masked(tmp_path: Path, database_url: str) -> None:
    project = make_db_project(tmp_path / "project", database_url=database_url)
    done = shipflow(project, "db.migrate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "after:  0003" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr
    assert ":****@127.0.0.1:5432/" in done.stdout
    assert "public.notes" in tables(database_url)
    status = shipflow(project, "db.status")
    assert "current: 0003" in status.stdout and "pending: 0" in status.stdout


def test_check_round_trips_in_a_scratch_schema_and_leaves_the_database_alone(
    tmp_path: Path, database_url: str
) -> None:
    project = make_db_project(tmp_path / "project", database_url=database_url)
    before = tables(database_url)
    done = shipflow(project, "db.check", "--database", "development")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "a scratch schema" in done.stdout
    assert "base -> 0003 -> 0002 -> 0003" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr
    assert tables(database_url) == before
    assert schemas(database_url) == []


def test_a_wrong_password_is_one_masked_line(tmp_path: Path, database_url: str) -> None:
    wrong = database_url.replace(PASSWORD, "not-the-password")
    project = make_db_project(tmp_path / "project", database_url=wrong)
    done = shipflow(project, "db.status")
    assert done.returncode == 1
    assert "password authentication failed" in done.stderr
    assert "not-the-password" not in done.stderr


def test_new_with_env_compares_in_a_scratch_schema_and_leaves_the_database_alone(
    tmp_path: Path, database_url: str
) -> None:
    project = make_db_project(tmp_path / "project", database_url=database_url)
    before = tables(database_url)
    models = project / "service" / "app" / "models.py"
    models.write_text(
        models.read_text().replace("    body = Column", "    author = Column(String(80))\n    body = Column")
    )
    made = shipflow(project, "db.new", "-m", "add author", "--env", "development")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "(a scratch schema)" in made.stdout
    assert PASSWORD not in made.stdout + made.stderr
    written = list((project / "service" / "migrations" / "versions").glob("*add_author.py"))
    assert len(written) == 1 and "add_column" in written[0].read_text()
    assert tables(database_url) == before
    assert schemas(database_url) == []
