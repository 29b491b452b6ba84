"""``inv db.check``: single head, round trip, drift, history, manifest. Every check runs, even after one
fails, and each gives a :class:`~shipflow.lint.CheckResult` (shown the way ``inv lint`` shows its tools).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipflow.db import history, runner
from shipflow.db.runner import MigrationError, Target
from shipflow.lint import CheckResult
from shipflow.release.git import GitError

if TYPE_CHECKING:
    from shipflow.db.settings import DbSettings


@dataclass
class _Outcome:
    """Filled in by a check: ``problems`` fail it, ``detail`` says what it looked at."""

    problems: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass(frozen=True)
class DbCheckResult(CheckResult):
    """A check's result plus a short note of what it covered (shown after the time when it passed)."""

    detail: str = ""


class _Checks:
    def __init__(self, on_result: Callable[[DbCheckResult], None]) -> None:
        self.results: list[DbCheckResult] = []
        self.on_result = on_result

    @contextmanager
    def check(self, name: str) -> Iterator[_Outcome]:
        outcome = _Outcome()
        started = time.monotonic()
        try:
            yield outcome
        except (MigrationError, GitError, history.ManifestError, history.HistoryUnavailable) as error:
            outcome.problems.append(str(error))
        result = DbCheckResult(
            name,
            not outcome.problems,
            time.monotonic() - started,
            "\n".join(outcome.problems),
            outcome.detail,
        )
        self.on_result(result)
        self.results.append(result)


def _round_trip(settings: DbSettings, target: Target, outcome: _Outcome, where: str) -> bool:
    config = runner.make_config(settings, target)
    runner.upgrade(config, target, "heads")
    after_up = runner.database_revisions(target)
    runner.downgrade(config, target, "-1")
    after_down = runner.database_revisions(target)
    runner.upgrade(config, target, "heads")
    again = runner.database_revisions(target)
    steps = [", ".join(revisions) or "base" for revisions in (after_up, after_down, again)]
    outcome.detail = f"base -> {' -> '.join(steps)} on {where}"
    if again != after_up:
        outcome.problems.append(f"upgrade head after downgrade -1 ended at {steps[2]}, not {steps[0]}")
        return False
    return True


def run_db_checks(
    settings: DbSettings,
    target: Target | None,
    on_result: Callable[[DbCheckResult], None] = lambda result: None,
) -> list[DbCheckResult]:
    """Run every check of ``inv db.check``; ``target`` None means a new SQLite file.

    The round trip and drift run on a scratch database (a copy of a SQLite file, a scratch schema on
    PostgreSQL); any other database is refused (``SettingsError``) before a check runs.
    """
    from shipflow.db.scratch import require_scratch, scratch_database

    require_scratch(target)
    checks = _Checks(on_result)
    with checks.check("single head") as outcome:
        heads = runner.script_heads(runner.make_config(settings, target or Target("sqlite://")))
        outcome.detail = ", ".join(heads) or "no migrations yet"
        if len(heads) > 1:
            outcome.problems.append(
                f"{len(heads)} heads: {', '.join(heads)}; merge them with "
                f"`{shlex.join(['alembic', 'merge', '-m', 'merge heads', *heads])}`"
            )
    database_error: str | None = None
    at_head = False
    try:
        with scratch_database(target) as (scratch, where):
            with checks.check("round trip") as outcome:
                at_head = _round_trip(settings, scratch, outcome, where)
            with checks.check("drift") as outcome:
                if not at_head:
                    outcome.problems.append("skipped: the round trip did not leave the database at head")
                else:
                    differences = runner.drift(runner.make_config(settings, scratch), scratch)
                    outcome.detail = "the models match the migrations"
                    outcome.problems.extend(
                        f"the models differ from the migrations: {difference}; run `inv db.new -m MESSAGE`"
                        for difference in differences
                    )
    except MigrationError as error:
        database_error = str(error)
    if database_error is not None:
        for name in ("round trip", "drift"):
            if not any(result.name == name for result in checks.results):
                with checks.check(name) as outcome:
                    outcome.problems.append(database_error)
    with checks.check("history") as outcome:
        report = history.compare_with_base(settings)
        outcome.detail = f"compared with {report.base}" + (f" ({report.note})" if report.note else "")
        outcome.problems.extend(
            f"{change}: merged migrations are never edited, deleted or renamed; restore it and write a "
            "new migration (`inv db.new -m MESSAGE`)"
            for change in report.forbidden
        )
    with checks.check("manifest") as outcome:
        files = history.migration_files(settings.versions_dir)
        problems = history.manifest_problems(files, history.read_manifest(settings.manifest))
        outcome.detail = f"{len(files)} files match {settings.relative(settings.manifest)}"
        folder = settings.relative(settings.versions_dir)
        outcome.problems.extend(problem.describe(folder) for problem in problems)
    return checks.results
