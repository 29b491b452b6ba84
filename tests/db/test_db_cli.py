"""`inv db.*` on SQLite, run as a user would: migrate, status, new, check, lock, and each bad input."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from db_support import NEW_MIGRATION, SECRET_PASSWORD, VERSIONS, make_db_project, shipflow
from support import git

pytestmark = [pytest.mark.cli, pytest.mark.needs("git")]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_db_project(tmp_path / "project")


def test_migrate_shows_the_revision_before_and_after_and_status_lists_what_is_pending(project: Path) -> None:
    partial = shipflow(project, "db.migrate", "--to", "0002")
    assert partial.returncode == 0, partial.stdout + partial.stderr
    assert "before: base (no migration applied)" in partial.stdout
    assert "after:  0002" in partial.stdout
    assert (project / "dev.db").is_file()  # sqlite:///./dev.db is relative to the project root

    status = shipflow(project, "db.status")
    assert status.returncode == 0, status.stderr
    assert "current: 0002" in status.stdout
    assert "head:    0003" in status.stdout
    assert "pending: 1" in status.stdout
    assert "0003  index notes by creation time" in status.stdout

    rest = shipflow(project, "db.migrate")
    assert "before: 0002" in rest.stdout and "after:  0003" in rest.stdout
    assert "pending: 0 (up to date)" in shipflow(project, "db.status").stdout


def test_check_passes_on_the_example_migrations_with_one_line_per_check(project: Path) -> None:
    done = shipflow(project, "db.check")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name in ("single head", "round trip", "drift", "history", "manifest"):
        assert any(line.startswith("ok") and f"  {name} " in line for line in lines), done.stdout
    assert "base -> 0003 -> 0002 -> 0003" in done.stdout
    assert not (project / "dev.db").exists()  # the round trip ran on a scratch database


def notes_rows(database: Path) -> list[tuple[str, ...]]:
    with sqlite3.connect(database) as connection:
        rows: list[tuple[str, ...]] = connection.execute("SELECT title FROM notes ORDER BY id").fetchall()
    return rows


def live_database(project: Path) -> Path:
    """dev.db at 0002 (one migration still pending) holding a note."""
    assert shipflow(project, "db.migrate", "--to", "0002").returncode == 0
    database = project / "dev.db"
    with sqlite3.connect(database) as connection:
        connection.execute("INSERT INTO notes (title, body) VALUES ('keep me', 'live data')")
    return database


@pytest.mark.parametrize("spec", ["development", "sqlite:///./dev.db", "absolute"])
def test_check_on_a_sqlite_database_round_trips_a_copy_and_leaves_the_file_alone(
    project: Path, spec: str
) -> None:
    database = live_database(project)
    before = database.read_bytes()
    chosen = f"sqlite:///{database}" if spec == "absolute" else spec
    done = shipflow(project, "db.check", "--database", chosen)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"on a copy of {database}" in done.stdout
    assert "base -> 0003 -> 0002 -> 0003" in done.stdout
    assert database.read_bytes() == before
    assert notes_rows(database) == [("keep me",)]
    assert "current: 0002" in shipflow(project, "db.status").stdout


def test_check_on_a_sqlite_file_that_does_not_exist_yet_does_not_create_it(project: Path) -> None:
    done = shipflow(project, "db.check", "--database", "development")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dev.db does not exist yet" in done.stdout
    assert not (project / "dev.db").exists()


def test_new_with_env_compares_a_copy_and_leaves_the_database_alone(project: Path) -> None:
    database = live_database(project)
    before = database.read_bytes()
    models = project / "service" / "app" / "models.py"
    models.write_text(
        models.read_text().replace("    body = Column", "    author = Column(String(80))\n    body = Column")
    )
    made = shipflow(project, "db.new", "-m", "add author", "--env", "development")
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"compared with a copy of {database}" in made.stdout
    written = list((project / VERSIONS).glob("*add_author.py"))
    assert len(written) == 1 and "add_column" in written[0].read_text()
    assert database.read_bytes() == before
    assert "current: 0002" in shipflow(project, "db.status").stdout


def test_a_database_without_a_scratch_form_is_refused_before_any_check(tmp_path: Path) -> None:
    url = f"mysql://app:{SECRET_PASSWORD}@127.0.0.1:1/app"
    project = make_db_project(tmp_path / "project", database_url=url)
    for args in (("db.check", "--database", url), ("db.check", "--database", "development")):
        done = shipflow(project, *args)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "the round trip needs a scratch database: use sqlite or a PostgreSQL URL" in done.stderr
        assert "mysql://app:****@127.0.0.1:1/app" in done.stderr
        assert done.stdout == ""  # refused before the first check
        assert SECRET_PASSWORD not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr
    made = shipflow(project, "db.new", "-m", "anything", "--env", "development")
    assert made.returncode == 2
    assert "needs a scratch database: use sqlite or a PostgreSQL URL" in made.stderr
    assert SECRET_PASSWORD not in made.stdout + made.stderr
    assert not list((project / VERSIONS).glob("*anything.py"))


def test_a_second_head_fails_naming_both_heads_and_the_other_checks_still_run(project: Path) -> None:
    branch = NEW_MIGRATION.replace('"0004"', '"0004b"').replace(
        'down_revision = "0003"', 'down_revision = "0002"'
    )
    (project / VERSIONS / "0004b_branch.py").write_text(branch)
    done = shipflow(project, "db.check")
    assert done.returncode == 1
    assert "FAIL  single head" in done.stdout
    assert "2 heads: " in done.stdout and "0003" in done.stdout and "0004b" in done.stdout
    assert "history" in done.stdout and "manifest" in done.stdout  # every check ran
    assert "db.check failed: single head" in done.stderr


def test_models_the_migrations_lack_fail_the_drift_check(project: Path) -> None:
    models = project / "service" / "app" / "models.py"
    models.write_text(
        models.read_text().replace("    body = Column", "    author = Column(String(80))\n    body = Column")
    )
    done = shipflow(project, "db.check")
    assert done.returncode == 1
    assert "FAIL  drift" in done.stdout
    assert "add_column notes.author" in done.stdout


def test_new_writes_the_missing_migration_and_lock_adds_it_to_the_manifest(project: Path) -> None:
    models = project / "service" / "app" / "models.py"
    models.write_text(
        models.read_text().replace("    body = Column", "    author = Column(String(80))\n    body = Column")
    )
    made = shipflow(project, "db.new", "-m", "add author")
    assert made.returncode == 0, made.stdout + made.stderr
    written = [path for path in (project / VERSIONS).glob("*add_author.py")]
    assert len(written) == 1
    assert "op.add_column" in written[0].read_text() or "batch_op.add_column" in written[0].read_text()

    unlocked = shipflow(project, "db.check")
    assert unlocked.returncode == 1
    assert "is not in the manifest" in unlocked.stdout
    locked = shipflow(project, "db.lock")
    assert locked.returncode == 0, locked.stdout + locked.stderr
    assert f"locked {VERSIONS}/{written[0].name}" in locked.stdout
    done = shipflow(project, "db.check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_lock_never_rewrites_the_checksum_of_an_edited_migration(project: Path) -> None:
    manifest = project / "service" / "migrations" / "manifest.json"
    before = manifest.read_text()
    first = project / VERSIONS / "0001_create_notes.py"
    first.write_text(first.read_text() + "\n# edited\n")
    done = shipflow(project, "db.lock")
    assert done.returncode == 1
    assert "0001_create_notes.py was modified after it was locked" in done.stdout
    assert manifest.read_text() == before


def test_an_unknown_revision_for_to_is_bad_input_and_changes_nothing(project: Path) -> None:
    done = shipflow(project, "db.migrate", "--to", "nope")
    assert done.returncode == 2
    assert "unknown revision 'nope'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (project / "dev.db").exists()


def test_an_unreachable_database_names_the_masked_url_and_the_cause(tmp_path: Path) -> None:
    url = f"postgresql://app:{SECRET_PASSWORD}@127.0.0.1:1/app"
    project = make_db_project(tmp_path / "project", database_url=url)
    for task in ("db.migrate", "db.status"):
        done = shipflow(project, task)
        assert done.returncode == 1
        assert "postgresql://app:****@127.0.0.1:1/app" in done.stderr
        assert "refused" in done.stderr.lower()
        assert SECRET_PASSWORD not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr


def test_a_missing_alembic_ini_is_one_message_naming_the_file(project: Path) -> None:
    (project / "service" / "alembic.ini").unlink()
    for task in ("db.migrate", "db.status", "db.check", "db.lock"):
        done = shipflow(project, task)
        assert done.returncode == 2, task
        assert "service/alembic.ini: not found" in done.stderr
        assert "Traceback" not in done.stderr


def test_check_with_an_unknown_database_is_bad_input(project: Path) -> None:
    done = shipflow(project, "db.check", "--database", "nowhere")
    assert done.returncode == 2
    assert "unknown database 'nowhere'" in done.stderr


def test_a_deleted_migration_is_named_by_check_and_status_without_a_traceback(project: Path) -> None:
    first = f"{VERSIONS}/0001_create_notes.py"
    git(project, "rm", "-q", first)
    (project / "envs" / ".env.test").write_text("DATABASE_URL=sqlite:///./test.db\n")
    done = shipflow(project, "db.check")
    assert done.returncode == 1, done.stdout + done.stderr
    for name in ("single head", "round trip", "drift", "history", "manifest"):
        assert f"  {name} " in done.stdout, done.stdout  # every check ran and printed its line
    assert f"{first} deleted" in done.stdout  # history
    assert "0001_create_notes.py was deleted" in done.stdout  # manifest
    assert "revision '0001' is missing" in done.stdout and f"deleted: {first}" in done.stdout
    status = shipflow(project, "db.status", "--env", "test")
    assert status.returncode == 1, status.stdout + status.stderr
    assert "revision '0001' is missing" in status.stderr and f"deleted: {first}" in status.stderr
    for output in (done, status):
        assert "Traceback" not in output.stdout + output.stderr
        assert "KeyError" not in output.stdout + output.stderr
    assert not (project / "test.db").exists()


def test_status_of_a_database_file_not_created_yet_does_not_create_it(project: Path) -> None:
    status = shipflow(project, "db.status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "current: base (no migration applied" in status.stdout
    assert "pending: 3" in status.stdout
    assert not (project / "dev.db").exists()


def test_the_migrations_head_is_read_from_the_commit_not_the_working_tree(project: Path) -> None:
    from shipflow.db.heads import migrations_head_at

    versions = (project / VERSIONS).relative_to(project).as_posix()
    committed = migrations_head_at(project, "HEAD", versions)
    (project / VERSIONS / "0004_add_tags.py").write_text(NEW_MIGRATION)  # not committed: not in an image

    assert committed is not None and migrations_head_at(project, "HEAD", versions) == committed
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "a new migration")
    assert migrations_head_at(project, "HEAD", versions) == "0004"
