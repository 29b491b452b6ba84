"""``inv lint``: ruff, format check, mypy --strict, bandit and any extra linters, one line each."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING

from invoke.tasks import task

from shipflow.errors import exit_codes

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from invoke.context import Context

    from shipflow.lint import CheckResult


def _runner(c: Context, root: Path) -> Callable[[Sequence[str]], tuple[int, str]]:
    def run(argv: Sequence[str]) -> tuple[int, str]:
        with c.cd(str(root)):
            result = c.run(shlex.join(argv), warn=True, hide=True, in_stream=False)
        if result is None:  # invoke returns None only for disown=True
            raise RuntimeError(f"no result from {argv[0]}")
        return result.exited, (result.stdout + result.stderr).strip()

    return run


def _report(result: CheckResult) -> None:
    from shipflow.lint import result_lines

    for line in result_lines(result):
        print(line, flush=True)


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
    from shipflow.lint import run_lint
    from shipflow.project import load_project

    with exit_codes("lint"):
        project = load_project()
        run = _runner(c, project.root)
        summary = run_lint(
            project, run, python=sys.executable, fix=fix, only=only or [], skip=skip or [], on_result=_report
        )
    print(f"lint passed: {summary}")
