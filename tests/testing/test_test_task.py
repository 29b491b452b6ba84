"""`inv test`: the pytest it runs, and real runs on a small generated project."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from support import run_shipflow

from shipflow.testing.runner import args_after_double_dash, child_environment, pytest_argv

pytestmark = pytest.mark.unit


def test_a_group_is_switched_on_and_selected() -> None:
    assert pytest_argv("/py", groups=["unit", "docker"]) == [
        "/py",
        "-m",
        "pytest",
        "--groups=+unit,+docker",
        "-m",
        "unit or docker",
    ]
    assert pytest_argv("/py", all_groups=True, extra=["-x"]) == ["/py", "-m", "pytest", "--all-groups", "-x"]


def test_variables_already_set_win_over_the_env_files() -> None:
    env = child_environment({"DATABASE_URL": "from-file", "APP_ENV": "test"}, {"DATABASE_URL": "from-shell"})
    assert env == {"DATABASE_URL": "from-shell", "APP_ENV": "test"}


def test_pytest_gets_what_follows_the_double_dash() -> None:
    assert args_after_double_dash(["inv", "test", "--group", "unit", "--", "-k", "a or b", "--", "x"]) == [
        "-k",
        "a or b",
        "--",
        "x",
    ]
    assert args_after_double_dash(["inv", "test"]) == []


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'small'\n")
    (tmp_path / "tests_config.yaml").write_text("test_groups:\n  fast: true\n  slow: false\n")
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / ".env").write_text("APP_NAME=small\nGREETING=hello\n")
    (tmp_path / "envs" / ".env.test").write_text("GREETING=hello from test\nDATABASE_URL=sqlite://\n")
    (tmp_path / "test_app.py").write_text(
        textwrap.dedent(
            """\
            import os
            import pytest

            @pytest.mark.fast
            def test_fast_sees_the_test_env_files():
                assert os.environ["APP_NAME"] == "small"
                assert os.environ["GREETING"] == "hello from test"
                assert os.environ["DATABASE_URL"] == "sqlite://from-shell"

            @pytest.mark.slow
            def test_slow():
                pass

            def test_in_no_group():
                pass
            """
        )
    )
    return tmp_path


def environment(**extra: str) -> dict[str, str]:
    # The outer run may itself have loaded env files (`inv test`): drop what the small project's files set.
    unset = ("TEST_GROUPS", "PYTEST_ADDOPTS", "APP_NAME", "GREETING")
    env = {key: value for key, value in os.environ.items() if key not in unset}
    return {**env, "DATABASE_URL": "sqlite://from-shell", **extra}


def test_inv_test_loads_the_env_files_and_honours_the_groups_file(small_project: Path) -> None:
    done = run_shipflow("test", "--", "-ra", cwd=small_project, env=environment())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed, 1 skipped" in done.stdout
    assert "group 'slow' disabled in tests_config.yaml" in done.stdout


def test_a_group_runs_only_that_group_even_when_the_file_disables_it(small_project: Path) -> None:
    done = run_shipflow("test", "--group", "slow", "--", "-v", cwd=small_project, env=environment())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_app.py::test_slow PASSED" in done.stdout
    assert "1 passed, 2 deselected" in done.stdout


def test_all_groups_runs_everything(small_project: Path) -> None:
    done = run_shipflow("test", "--all-groups", cwd=small_project, env=environment())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_failing_tests_give_pytests_exit_code(small_project: Path) -> None:
    done = run_shipflow("test", "--group", "fast", cwd=small_project, env=environment(DATABASE_URL="other"))
    assert done.returncode == 1
    assert "1 failed" in done.stdout
    assert "test: some tests failed (pytest exit 1)" in done.stderr


def test_no_collected_tests_is_a_failure_that_says_why(small_project: Path) -> None:
    done = run_shipflow("test", "--", "-k", "nothing_matches", cwd=small_project, env=environment())
    assert done.returncode == 5
    assert "test: no tests were collected" in done.stderr


def test_an_unknown_group_stops_before_any_test_runs(small_project: Path) -> None:
    done = run_shipflow("test", "--group", "slwo", cwd=small_project, env=environment())
    assert done.returncode == 4
    assert "--groups: unknown group 'slwo'; groups in" in done.stderr
    assert "passed" not in done.stdout


def test_a_broken_env_file_is_reported_and_nothing_runs(small_project: Path) -> None:
    (small_project / "envs" / ".env.test").write_text("GREETING=${UNDEFINED_ANYWHERE}\n")
    done = run_shipflow("test", cwd=small_project, env=environment())
    assert done.returncode == 2
    assert done.stderr.startswith("test: ")
    assert "envs/.env.test" in done.stderr and "UNDEFINED_ANYWHERE" in done.stderr
    assert "Traceback" not in done.stderr
    assert "passed" not in done.stdout
