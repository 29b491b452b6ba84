"""``inv db.*``: alembic migrations against an environment's database, and the checks CI runs.

Exit codes: 1 a migration or check failed (or the database is unreachable), 2 bad input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.tasks import task

from shipflow.errors import exit_codes
from shipflow.tasks.flagtypes import worded

if TYPE_CHECKING:
    from invoke.context import Context

ENV_HELP = "environment whose DATABASE_URL to use: development, test, staging, production, local"


def _line(text: str) -> None:
    print(text, flush=True)


@task(
    help={
        "env": ENV_HELP,
        "to": "upgrade to this revision instead of head (an id or a unique prefix, see `inv db.status`)",
    }
)
def migrate(c: Context, env: str | None = None, to: str = "head") -> None:
    """Apply the migrations (`alembic upgrade head`) to the environment's database, showing the revision
    before and after."""
    from shipflow.db.operations import environment_database, migrate
    from shipflow.project import load_project

    with exit_codes("db.migrate"):
        worded("--to", to, "a revision (see `inv db.status`) or leave --to out for head")
        settings, environment, target = environment_database(load_project(), env)
    with exit_codes("db.migrate", target.masked):
        migrate(settings, target, environment, to, on_line=_line)


@task(
    help={
        "message": "what the migration does, e.g. 'add users.email' (becomes the file name)",
        "env": "compare the models with this environment's database upgraded to head in scratch (a copy of "
        "a SQLite file, a new schema on PostgreSQL; the database itself is never changed); default: a new "
        "SQLite database at head",
        "empty": "write an empty revision instead of comparing the models (for data migrations)",
    }
)
def new(c: Context, message: str, env: str | None = None, empty: bool = False) -> None:
    """Write a new migration from the models' differences (`alembic revision --autogenerate`)."""
    from shipflow.db.operations import comparison_database, new_migration
    from shipflow.project import load_project

    with exit_codes("db.new"):
        worded("-m/--message", message, "what the migration does, e.g. -m 'add users.email'")
        settings, target = comparison_database(load_project(), env)
    with exit_codes("db.new", target.masked if target else None):
        lines = new_migration(settings, target, message, empty=empty)
    print("\n".join(lines))


@task(help={"env": ENV_HELP})
def status(c: Context, env: str | None = None) -> None:
    """The database's revision, the migrations' head(s) and the migrations still to apply."""
    from shipflow.db.operations import environment_database, status_lines
    from shipflow.project import load_project

    with exit_codes("db.status"):
        settings, environment, target = environment_database(load_project(), env)
    with exit_codes("db.status", target.masked):
        lines = status_lines(settings, target, environment)
    print("\n".join(lines))


@task(
    help={
        "database": "where to run the round trip: 'sqlite' (a new file), an environment name (its "
        "DATABASE_URL) or a URL; a SQLite file is copied and PostgreSQL gets a scratch schema, so the "
        "database is never changed (others are refused); default: [tool.shipflow.db] check_database",
    }
)
def check(c: Context, database: str | None = None) -> None:
    """CI's migration checks, one line each: single head, round trip (upgrade head -> downgrade -1 ->
    upgrade head), drift between models and migrations, history unchanged since the base branch, manifest."""
    from shipflow.db.operations import check_database, run_checks
    from shipflow.project import load_project

    with exit_codes("db.check"):
        settings, target = check_database(load_project(), database)
    with exit_codes("db.check", target.masked if target else None):
        summary = run_checks(settings, target, on_line=_line)
    print(f"db.check passed: {summary}")


@task()
def lock(c: Context) -> None:
    """Add new migration files' checksums to the manifest; locked entries are never rewritten."""
    from shipflow.db.operations import lock_migrations
    from shipflow.db.settings import db_settings
    from shipflow.project import load_project

    with exit_codes("db.lock"):
        lock_migrations(db_settings(load_project()), on_line=_line)


namespace = Collection("db")
for _task in (migrate, new, status, check, lock):
    namespace.add_task(_task)
