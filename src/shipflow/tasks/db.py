"""``inv db.*``: alembic migrations against an environment's database, and the checks CI runs.

Exit codes: 1 a migration or check failed (or the database is unreachable), 2 bad input.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.exceptions import Exit
from invoke.tasks import task

if TYPE_CHECKING:
    from invoke.context import Context

    from shipflow.db.checks import DbCheckResult
    from shipflow.db.runner import Target
    from shipflow.db.settings import DbSettings

ENV_HELP = "environment whose DATABASE_URL to use: development, test, staging, production, local"
FAILED, BAD_INPUT = 1, 2


@contextmanager
def _errors(task_name: str, target: Target | None = None) -> Iterator[None]:
    """shipflow's errors become one masked line and an exit code, never a traceback."""
    from shipflow.db.history import ManifestError
    from shipflow.db.runner import BadRevision, MigrationError
    from shipflow.project import SettingsError
    from shipflow.release.git import GitError

    def masked(text: str) -> str:
        return target.masked(text) if target is not None else text

    try:
        yield
    except (SettingsError, BadRevision) as error:
        raise Exit(masked(f"{task_name}: {error}"), code=BAD_INPUT) from None
    except (MigrationError, GitError, ManifestError) as error:
        raise Exit(masked(f"{task_name}: {error}"), code=FAILED) from None


def _settings() -> DbSettings:
    from shipflow.db.settings import db_settings
    from shipflow.project import load_project

    return db_settings(load_project())


def _environment_target(settings: DbSettings, env: str | None) -> tuple[str, Target]:
    from shipflow.db.scratch import environment_target
    from shipflow.env.names import resolve_environment

    environment = resolve_environment(env)
    return environment, environment_target(environment, settings.root)


def _revisions(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) or "base (no migration applied)"


@task(
    help={
        "env": ENV_HELP,
        "to": "upgrade to this revision instead of head (an id or a unique prefix, see `inv db.status`)",
    }
)
def migrate(c: Context, env: str | None = None, to: str = "head") -> None:
    """Apply the migrations (`alembic upgrade head`) to the environment's database, showing the revision
    before and after."""
    from shipflow.db import runner

    with _errors("db.migrate"):
        settings = _settings()
        environment, target = _environment_target(settings, env)
    with _errors("db.migrate", target):
        config = runner.make_config(settings, target, quiet=False)
        runner.check_target(config, to)
        print(target.masked(f"database: {target.url} ({environment})"), flush=True)
        before = runner.database_revisions(target)
        print(f"before: {_revisions(before)}", flush=True)
        runner.upgrade(config, target, to)
        after = runner.database_revisions(target)
        print(f"after:  {_revisions(after)}" + ("" if after != before else " (nothing to apply)"))


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
    from shipflow.db import runner
    from shipflow.db.scratch import require_scratch, scratch_database

    with _errors("db.new"):
        settings = _settings()
        target = _environment_target(settings, env)[1] if env else None
    with _errors("db.new", target):
        require_scratch(target, "comparing the models")
    with _errors("db.new", target), scratch_database(target) as (database, where):
        config = runner.make_config(settings, database)
        if not empty:
            runner.upgrade(config, database, "heads")
        for path in runner.new_revision(config, database, message, autogenerate=not empty):
            print(f"wrote {settings.relative(path)} (compared with {where})")
        print("review it, then run `inv db.lock` and commit both")


@task(help={"env": ENV_HELP})
def status(c: Context, env: str | None = None) -> None:
    """The database's revision, the migrations' head(s) and the migrations still to apply."""
    from shipflow.db import runner

    with _errors("db.status"):
        settings = _settings()
        environment, target = _environment_target(settings, env)
    with _errors("db.status", target):
        config = runner.make_config(settings, target)
        print(target.masked(f"database: {target.url} ({environment})"))
        current = runner.database_revisions(target)
        heads = runner.script_heads(config)
        print(f"current: {_revisions(current)}")
        print(f"head:    {', '.join(heads) or 'no migrations'}")
        waiting = runner.pending(config, current)
        print(f"pending: {len(waiting)}" + ("" if waiting else " (up to date)"))
        for revision in waiting:
            print(f"  {revision.id}  {revision.message}")


def _report(result: DbCheckResult) -> None:
    from shipflow.lint import result_line

    detail = f"  {result.detail}" if result.ok and result.detail else ""
    print(result_line(result) + detail, flush=True)
    if not result.ok and result.output:
        for line in result.output.splitlines():
            print(f"      {line}", flush=True)


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
    from shipflow.db.checks import run_db_checks
    from shipflow.db.scratch import resolve_target

    with _errors("db.check"):
        settings = _settings()
        target = resolve_target(database or settings.check_database, settings.root)
    with _errors("db.check", target):
        results = run_db_checks(settings, target, on_result=_report)
    failed = [result.name for result in results if not result.ok]
    total = sum(result.seconds for result in results)
    if failed:
        raise Exit(f"db.check failed: {', '.join(failed)} ({total:.1f}s)", code=FAILED)
    print(f"db.check passed: {len(results)} checks ({total:.1f}s)")


@task()
def lock(c: Context) -> None:
    """Add new migration files' checksums to the manifest; locked entries are never rewritten."""
    from shipflow.db import history

    with _errors("db.lock"):
        settings = _settings()
        result = history.lock(settings)
    manifest = settings.relative(settings.manifest)
    for name in result.added:
        print(f"locked {settings.relative(settings.versions_dir / name)}")
    if not result.added:
        print(f"{manifest}: no new migration to lock")
    if result.problems:
        folder = settings.relative(settings.versions_dir)
        for problem in result.problems:
            print(problem.describe(folder))
        raise Exit(
            f"db.lock: {len(result.problems)} locked migrations changed; nothing rewritten", code=FAILED
        )


namespace = Collection("db")
for _task in (migrate, new, status, check, lock):
    namespace.add_task(_task)
