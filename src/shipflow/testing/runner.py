"""What ``inv test`` runs: pytest from this interpreter, with groups chosen and the test env files loaded.

The argv and the child's environment are built by pure functions; :func:`run_pytest` runs them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from shipflow.testing.groups import marker_expression

TEST_ENVIRONMENT = "test"
NO_TESTS_COLLECTED = 5
EXIT_MEANINGS = {
    1: "some tests failed",
    2: "the run was interrupted (a collection error, or Ctrl-C)",
    3: "pytest hit an internal error",
    4: "pytest refused its arguments or tests_config.yaml (message above)",
    NO_TESTS_COLLECTED: "no tests were collected: check the --group names, -m/-k and paths",
}


def pytest_argv(
    python: str, *, groups: Sequence[str] = (), all_groups: bool = False, extra: Sequence[str] = ()
) -> list[str]:
    """``python -m pytest`` selecting ``groups`` only (switched on even if the file disables them)."""
    argv = [python, "-m", "pytest"]
    if all_groups:
        argv.append("--all-groups")
    if groups:
        argv += [f"--groups={','.join('+' + group for group in groups)}", "-m", marker_expression(groups)]
    return [*argv, *extra]


def child_environment(file_values: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The env files' values under the process environment: a variable already set is never replaced."""
    return {**file_values, **environ}


def args_after_double_dash(argv: Sequence[str]) -> list[str]:
    """The arguments after the first ``--`` (invoke does not hand a task its remainder)."""
    return list(argv[argv.index("--") + 1 :]) if "--" in argv else []


def env_values_for_tests(root: Path) -> dict[str, str] | None:
    """The test environment's env file values, or None when the project has no ``envs/.env.test``."""
    from shipflow.env.files import env_file, env_file_values

    if not (root / env_file(TEST_ENVIRONMENT)).is_file():
        return None
    return env_file_values(root, TEST_ENVIRONMENT)


def run_pytest(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> int:
    """Run pytest in the foreground (its output goes straight to the terminal) and return its exit code."""
    return subprocess.run(list(argv), cwd=cwd, env=dict(env), check=False).returncode


def failure_message(code: int) -> str:
    """What a non-zero pytest exit code means, for the task's last line."""
    return f"test: {EXIT_MEANINGS.get(code, 'pytest failed')} (pytest exit {code})"


def run_test_suite(
    root: Path,
    *,
    groups: Sequence[str],
    all_groups: bool,
    argv: Sequence[str],
    environ: Mapping[str, str],
    on_line: Callable[[str], None],
) -> int:
    """``inv test``: pytest from this interpreter with the test env files loaded under ``environ``,
    ``groups`` selected and the arguments after ``--`` in ``argv`` passed on; pytest's exit code."""
    values = env_values_for_tests(root)
    if values is None:
        on_line("test: no envs/.env.test, so pytest runs with the process environment only")
    pytest = pytest_argv(
        sys.executable, groups=groups, all_groups=all_groups, extra=args_after_double_dash(argv)
    )
    return run_pytest(pytest, cwd=Path.cwd(), env=child_environment(values or {}, environ))
