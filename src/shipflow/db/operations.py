"""What each ``inv db.*`` task does, as plain functions: they take the settings and a database, stream
progress through ``on_line`` or return the lines to print, and raise shipflow's errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shipflow.db import history, runner
from shipflow.db.runner import Target
from shipflow.db.settings import DbSettings, db_settings
from shipflow.lint import result_line

if TYPE_CHECKING:
    from shipflow.db.checks import DbCheckResult
    from shipflow.project import Project

LineSink = Callable[[str], None]


def _revisions(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) or "base (no migration applied)"


def environment_database(project: Project, env: str | None) -> tuple[DbSettings, str, Target]:
    """The db settings, the environment ``env`` names (else APP_ENV, ENV, development) and its database."""
    from shipflow.db.scratch import environment_target
    from shipflow.env.names import resolve_environment

    settings = db_settings(project)
    environment = resolve_environment(env)
    return settings, environment, environment_target(environment, settings.root)


def comparison_database(project: Project, env: str | None) -> tuple[DbSettings, Target | None]:
    """The db settings and the database ``db.new`` compares with: ``env``'s, else None (a new SQLite file)."""
    if not env:
        return db_settings(project), None
    settings, _, target = environment_database(project, env)
    return settings, target


def check_database(project: Project, database: str | None) -> tuple[DbSettings, Target | None]:
    """The db settings and the database ``db.check`` works on (None: a new SQLite file)."""
    from shipflow.db.scratch import resolve_target

    settings = db_settings(project)
    return settings, resolve_target(database or settings.check_database, settings.root)


def migrate(settings: DbSettings, target: Target, environment: str, to: str, on_line: LineSink) -> None:
    """Upgrade ``target`` to ``to``, telling the database and its revision before and after."""
    config = runner.make_config(settings, target, quiet=False)
    runner.check_target(config, to)
    on_line(target.masked(f"database: {target.url} ({environment})"))
    before = runner.database_revisions(target)
    on_line(f"before: {_revisions(before)}")
    runner.upgrade(config, target, to)
    after = runner.database_revisions(target)
    on_line(f"after:  {_revisions(after)}" + ("" if after != before else " (nothing to apply)"))


def new_migration(settings: DbSettings, target: Target | None, message: str, *, empty: bool) -> list[str]:
    """Write a migration compared on a scratch copy of ``target`` (None: a new SQLite file) at head."""
    from shipflow.db.scratch import require_scratch, scratch_database

    require_scratch(target, "comparing the models")
    with scratch_database(target) as (database, where):
        config = runner.make_config(settings, database)
        if not empty:
            runner.upgrade(config, database, "heads")
        written = runner.new_revision(config, database, message, autogenerate=not empty)
    lines = [f"wrote {settings.relative(path)} (compared with {where})" for path in written]
    return [*lines, "review it, then run `inv db.lock` and commit both"]


def status_lines(settings: DbSettings, target: Target, environment: str) -> list[str]:
    """The database's revision, the migrations' head(s) and the migrations still to apply."""
    config = runner.make_config(settings, target)
    heads = runner.script_heads(config)  # a broken history fails before the database is read
    current = runner.database_revisions(target)
    waiting = runner.pending(config, current)
    not_created = " (the file does not exist yet)" if runner.sqlite_file_missing(target.url) else ""
    return [
        target.masked(f"database: {target.url} ({environment})"),
        f"current: {_revisions(current)}{not_created}",
        f"head:    {', '.join(heads) or 'no migrations'}",
        f"pending: {len(waiting)}" + ("" if waiting else " (up to date)"),
        *(f"  {revision.id}  {revision.message}" for revision in waiting),
    ]


def check_lines(result: DbCheckResult) -> list[str]:
    """A finished check's line (with what it covered when it passed), then its problems indented."""
    detail = f"  {result.detail}" if result.ok and result.detail else ""
    problems = result.output.splitlines() if not result.ok and result.output else []
    return [result_line(result) + detail, *(f"      {line}" for line in problems)]


def run_checks(settings: DbSettings, target: Target | None, on_line: LineSink) -> str:
    """Run every check of ``db.check``, streaming their lines; the summary, or ``ChecksFailed``."""
    from shipflow.db.checks import run_db_checks
    from shipflow.lint import checks_summary

    def report(result: DbCheckResult) -> None:
        for line in check_lines(result):
            on_line(line)

    return checks_summary(run_db_checks(settings, target, on_result=report))


def lock_migrations(settings: DbSettings, on_line: LineSink) -> None:
    """Lock new migration files, telling which; ``ManifestError`` after listing any locked file that
    changed, moved or disappeared (the new files are locked all the same)."""
    result = history.lock(settings)
    for name in result.added:
        on_line(f"locked {settings.relative(settings.versions_dir / name)}")
    if not result.added:
        on_line(f"{settings.relative(settings.manifest)}: no new migration to lock")
    folder = settings.relative(settings.versions_dir)
    for problem in result.problems:
        on_line(problem.describe(folder))
    if result.problems:
        raise history.ManifestError(f"{len(result.problems)} locked migrations changed; nothing rewritten")
