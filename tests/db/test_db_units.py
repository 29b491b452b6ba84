"""Migrations in this process: how a deploy runs them (the `migrate` setting, alembic's output read), a
broken history named, and a SQLite file never created by reading it."""

from __future__ import annotations

from pathlib import Path

import pytest
from db_support import make_db_project

from shipflow.db import runner
from shipflow.db.settings import DbSettings, db_settings
from shipflow.deploy.commands import parse_current, run_container
from shipflow.deploy.settings import load_deploy_settings
from shipflow.project import SettingsError, load_project

pytestmark = pytest.mark.unit


def test_deploy_settings_read_the_migrate_mode_and_refuse_others(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    path = tmp_path / "deploy" / "deploy.toml"
    path.write_text('app = "x"\n[targets.local]\n')
    settings = load_deploy_settings(tmp_path, {})
    assert settings.migrate == "before-switch"
    path.write_text('app = "x"\nmigrate = "on-start"\n[targets.local]\n')
    settings = load_deploy_settings(tmp_path, {})
    target = settings.target("local")
    from shipflow.deploy.commands import Release, slots_of

    argv = run_container(settings, target, slots_of(target)[0], Release("x:1", "1" * 40, "v1"))
    assert "MIGRATE_ON_START=true" in argv
    path.write_text('app = "x"\nmigrate = "sometimes"\n[targets.local]\n')
    with pytest.raises(SettingsError, match="migrate must be"):
        load_deploy_settings(tmp_path, {})


def test_alembic_current_output_gives_the_revision() -> None:
    assert parse_current("0003 (head)\n") == "0003"
    assert parse_current("") is None


def example_settings(root: Path) -> DbSettings:
    """The example service's migrations copied under ``root`` (no git), and their settings."""
    make_db_project(root, with_git=False)
    return db_settings(load_project(root))


def test_a_deleted_migration_is_a_broken_history_naming_the_file(tmp_path: Path) -> None:
    settings = example_settings(tmp_path / "project")
    (settings.versions_dir / "0001_create_notes.py").unlink()
    config = runner.make_config(settings, runner.Target("sqlite://"))
    for read in (runner.script_heads, lambda config: runner.pending(config, ())):
        with pytest.raises(runner.BrokenHistory) as caught:
            read(config)
        message = str(caught.value)
        assert "revision '0001' is missing" in message
        assert "deleted: service/migrations/versions/0001_create_notes.py" in message
    with pytest.raises(runner.BrokenHistory):
        runner.check_target(config, "head")


def test_reading_the_revision_of_a_sqlite_file_not_created_yet_does_not_create_it(tmp_path: Path) -> None:
    database = tmp_path / "later.db"
    assert runner.database_revisions(runner.Target(f"sqlite:///{database}")) == ()
    assert not database.exists()
    assert runner.sqlite_file_missing(f"sqlite:///{database}")
    assert not runner.sqlite_file_missing("sqlite://")
    assert not runner.sqlite_file_missing("postgresql://app@db/app")
