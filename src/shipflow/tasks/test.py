"""``inv test``: pytest with the test environment's env files, groups from tests_config.yaml."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.exceptions import Exit
from invoke.tasks import task

from shipflow.project import SettingsError, find_project_root

if TYPE_CHECKING:
    from invoke.context import Context


@task(
    name="test",
    iterable=["group"],
    help={
        "group": "run only this group's tests, even when tests_config.yaml disables it (repeatable)",
        "all-groups": "run every group, including those tests_config.yaml disables",
    },
)
def run_tests(c: Context, group: list[str] | None = None, all_groups: bool = False) -> None:
    """Run pytest with envs/.env < envs/.env.test loaded (variables already set win).

    Arguments after `--` go to pytest, e.g. `inv test --group unit -- -x -k deploy`.
    """
    from shipflow.testing.runner import (
        args_after_double_dash,
        child_environment,
        env_values_for_tests,
        failure_message,
        pytest_argv,
        run_pytest,
    )

    root = find_project_root()
    try:
        values = env_values_for_tests(root)
    except SettingsError as error:
        raise Exit(f"test: {error}", code=2) from None
    if values is None:
        print("test: no envs/.env.test, so pytest runs with the process environment only", flush=True)
    argv = pytest_argv(
        sys.executable, groups=group or [], all_groups=all_groups, extra=args_after_double_dash(sys.argv)
    )
    code = run_pytest(argv, cwd=Path.cwd(), env=child_environment(values or {}, os.environ))
    if code != 0:
        raise Exit(failure_message(code), code=code)
