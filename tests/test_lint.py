"""`inv lint`: the checks it builds from settings (real runs are in test_lint_tools.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from shipflow.lint import (
    ExtraLinter,
    LintCheck,
    LintSettings,
    lint_checks,
    lint_settings,
    result_line,
    run_checks,
    select_checks,
)
from shipflow.project import Project, SettingsError, load_project

SETTINGS = LintSettings(ruff=("src", "tests"), mypy=("src",), bandit=("src",))


def argvs(checks: Sequence[LintCheck]) -> dict[str, tuple[str, ...]]:
    return {check.name: check.argv for check in checks}


def test_checks_run_each_tool_from_the_same_interpreter() -> None:
    checks = argvs(lint_checks(SETTINGS, python="/py"))
    assert checks == {
        "ruff check": ("/py", "-m", "ruff", "check", "src", "tests"),
        "ruff format": ("/py", "-m", "ruff", "format", "--check", "src", "tests"),
        "mypy": ("/py", "-m", "mypy", "--strict", "src"),
        "bandit": ("/py", "-m", "bandit", "-q", "-c", "pyproject.toml", "-r", "src"),
    }


def test_fix_rewrites_with_ruff_then_still_type_checks() -> None:
    checks = argvs(lint_checks(SETTINGS, python="/py", fix=True))
    assert checks["ruff fix"] == ("/py", "-m", "ruff", "check", "--fix", "src", "tests")
    assert checks["ruff format"] == ("/py", "-m", "ruff", "format", "src", "tests")
    assert "mypy" in checks and "bandit" in checks


def test_extra_linters_run_their_fix_command_only_with_fix() -> None:
    settings = LintSettings(
        ruff=(),
        mypy=(),
        bandit=(),
        extra=(ExtraLinter("eslint", ("npx", "eslint", "web"), ("npx", "eslint", "--fix", "web")),),
    )
    assert argvs(lint_checks(settings, python="/py")) == {"eslint": ("npx", "eslint", "web")}
    assert argvs(lint_checks(settings, python="/py", fix=True)) == {
        "eslint": ("npx", "eslint", "--fix", "web")
    }


def test_only_and_skip_select_by_tool_name() -> None:
    checks = lint_checks(SETTINGS, python="/py")
    assert [c.name for c in select_checks(checks, only=["mypy"], skip=[])] == ["mypy"]
    assert [c.name for c in select_checks(checks, only=[], skip=["mypy"])] == [
        "ruff check",
        "ruff format",
        "bandit",
    ]
    with pytest.raises(ValueError, match="unknown check 'pylint'; known: bandit, mypy, ruff"):
        select_checks(checks, only=["pylint"], skip=[])


def test_every_check_runs_even_after_a_failure() -> None:
    checks = lint_checks(SETTINGS, python="/py")
    seen: list[str] = []

    def run(argv: Sequence[str]) -> tuple[int, str]:
        seen.append(argv[2])
        return (1, "ruff says no") if argv[2] == "ruff" else (0, "")

    results = run_checks(checks, run, is_installed=lambda module: True)
    assert seen == ["ruff", "ruff", "mypy", "bandit"]
    assert [r.ok for r in results] == [False, False, True, True]
    assert result_line(results[0]).startswith("FAIL  ruff check")


def test_a_missing_tool_fails_its_check_with_the_install_command() -> None:
    results = run_checks(
        lint_checks(SETTINGS, python="/py"), lambda argv: (0, ""), is_installed=lambda m: m != "mypy"
    )
    mypy = next(r for r in results if r.name == "mypy")
    assert not mypy.ok
    assert "mypy is not installed" in mypy.output and "scripts/setup.sh" in mypy.output


def test_default_paths_are_the_usual_ones_that_exist(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "tasks.py").write_text("")
    settings = lint_settings(Project(root=tmp_path, settings={}))
    assert settings.mypy == ("src", "tasks.py")
    assert settings.bandit == ("src",)
    assert settings.ruff == (".",)


def test_a_configured_path_that_does_not_exist_names_the_key(tmp_path: Path) -> None:
    project = Project(root=tmp_path, settings={"lint": {"mypy": ["scr"]}})
    with pytest.raises(SettingsError, match=r"\[tool.shipflow.lint\] mypy names 'scr', which does not exist"):
        lint_settings(project)


def test_a_malformed_extra_linter_says_what_is_expected(tmp_path: Path) -> None:
    project = Project(root=tmp_path, settings={"lint": {"extra": [{"run": "eslint"}]}})
    with pytest.raises(SettingsError, match=r"extra\[0\] needs a name and a run command"):
        lint_settings(project)


def test_malformed_pyproject_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.shipflow\n")
    with pytest.raises(SettingsError, match=r"pyproject.toml: not valid TOML: .*line 1"):
        load_project(tmp_path)
