"""``inv test``: pytest with the test environment's env files, groups from tests_config.yaml."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from invoke.exceptions import Exit
from invoke.tasks import task

from shipflow.errors import exit_codes

if TYPE_CHECKING:
    from invoke.context import Context


def _line(text: str) -> None:
    print(text, flush=True)


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
    from shipflow.project import find_project_root
    from shipflow.testing.runner import failure_message, run_test_suite

    with exit_codes("test"):
        code = run_test_suite(
            find_project_root(),
            groups=group or [],
            all_groups=all_groups,
            argv=sys.argv,
            environ=os.environ,
            on_line=_line,
        )
    if code != 0:  # pytest's own exit code (1-5) is the task's, so it does not go through exit_codes
        raise Exit(failure_message(code), code=code)
