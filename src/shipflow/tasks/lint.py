"""``inv lint``: ruff, format check, mypy --strict, bandit and any extra linters, one line each."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING

from invoke.exceptions import Exit
from invoke.tasks import task

from shipflow.project import PYPROJECT, SettingsError, load_project

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from invoke.context import Context

    from shipflow.lint import CheckResult


def _runner(c: Context) -> Callable[[Sequence[str]], tuple[int, str]]:
    def run(argv: Sequence[str]) -> tuple[int, str]:
        result = c.run(shlex.join(argv), warn=True, hide=True, in_stream=False)
        if result is None:  # invoke returns None only for disown=True
            raise RuntimeError(f"no result from {argv[0]}")
        return result.exited, (result.stdout + result.stderr).strip()

    return run


def _report(result: CheckResult) -> None:
    from shipflow.lint import result_line

    print(result_line(result), flush=True)
    if not result.ok and result.output:
        print(result.output, flush=True)


@task(
    iterable=["only", "skip"],
    help={
        "fix": "apply ruff's fixes and formatting (and extra linters' fix commands) before checking",
        "only": "run only this check (repeatable): ruff, mypy, bandit or an extra linter's name",
        "skip": "leave out this check (repeatable)",
    },
)
def lint(c: Context, fix: bool = False, only: list[str] | None = None, skip: list[str] | None = None) -> None:
    """Run every linter over the project; exit non-zero when any fails.

    Paths and extra linters come from [tool.shipflow.lint] in pyproject.toml.
    """
    from shipflow.lint import lint_checks, lint_settings, module_available, run_checks, select_checks

    try:
        project = load_project()
        settings = lint_settings(project)
    except SettingsError as error:
        raise Exit(f"lint: {error}", code=2) from None
    checks = lint_checks(
        settings, python=sys.executable, fix=fix, has_pyproject=(project.root / PYPROJECT).is_file()
    )
    try:
        checks = select_checks(checks, only=only or [], skip=skip or [])
    except ValueError as error:
        raise Exit(f"lint: {error}", code=2) from None
    with c.cd(str(project.root)):
        results = run_checks(checks, _runner(c), is_installed=module_available, on_result=_report)
    failed = [result.name for result in results if not result.ok]
    total = sum(result.seconds for result in results)
    if failed:
        raise Exit(f"lint failed: {', '.join(failed)} ({total:.1f}s)", code=1)
    print(f"lint passed: {len(results)} checks ({total:.1f}s)")
