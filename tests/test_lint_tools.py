"""`inv lint` run as a user would, with the real ruff, mypy and bandit, on a small generated project."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support import run_shipflow

pytestmark = pytest.mark.cli

CLEAN_MODULE = '''\
"""A tiny module."""


def double(value: int) -> int:
    """Twice the value."""
    return value * 2
'''


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [tool.shipflow.lint]
            ruff = ["src"]
            mypy = ["src"]
            bandit = ["src"]

            [tool.mypy]
            cache_dir = ".mypy_cache"
            """
        )
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "tiny.py").write_text(CLEAN_MODULE)
    return tmp_path


def test_lint_passes_on_a_clean_project_with_one_line_per_tool(small_project: Path) -> None:
    done = run_shipflow("lint", cwd=small_project)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [
        ["ok", "ruff"],
        ["ok", "ruff"],
        ["ok", "mypy"],
        ["ok", "bandit"],
    ]
    assert all(line.endswith("s") for line in lines[:4])
    assert lines[-1].startswith("lint passed: 4 checks")


def test_a_type_error_fails_lint_with_mypys_message(small_project: Path) -> None:
    (small_project / "src" / "tiny.py").write_text(CLEAN_MODULE.replace("return value * 2", 'return "two"'))
    done = run_shipflow("lint", cwd=small_project)
    assert done.returncode == 1
    assert "FAIL  mypy" in done.stdout
    assert 'Incompatible return value type (got "str", expected "int")' in done.stdout
    assert "lint failed: mypy" in done.stderr


def test_bad_formatting_fails_lint_and_fix_repairs_it(small_project: Path) -> None:
    module = small_project / "src" / "tiny.py"
    module.write_text(CLEAN_MODULE.replace("value * 2", "value*2"))
    done = run_shipflow("lint", cwd=small_project)
    assert done.returncode == 1
    assert "FAIL  ruff format" in done.stdout
    assert "1 file would be reformatted" in done.stdout

    fixed = run_shipflow("lint", "--fix", cwd=small_project)
    assert fixed.returncode == 0, fixed.stdout
    assert module.read_text() == CLEAN_MODULE


def test_an_unknown_check_name_is_refused_before_anything_runs(small_project: Path) -> None:
    done = run_shipflow("lint", "--only", "pylint", cwd=small_project)
    assert done.returncode == 2
    assert "unknown check 'pylint'" in done.stderr
    assert done.stdout == ""
