"""`inv test` run as a user would on a small generated project: it starts pytest with the test env files
loaded and the groups chosen, and ends with pytest's exit code."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from support import run_shipflow

pytestmark = pytest.mark.cli


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
