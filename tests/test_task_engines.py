"""The plain functions behind the thin tasks: the lines they print and the exit code each error maps to."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.ci.generate import UnknownProvider, file_status, generate_ci_files
from shipflow.db.checks import DbCheckResult
from shipflow.db.history import ManifestError
from shipflow.db.operations import check_lines
from shipflow.db.runner import BadRevision, DatabaseUnreachable
from shipflow.env.check import EnvProblems, problem_lines
from shipflow.errors import ShipflowError, message_of
from shipflow.images.build import DirtyTreeRefused
from shipflow.lint import CheckResult, ChecksFailed, UnknownCheck, checks_summary, result_lines
from shipflow.problems import Problem
from shipflow.release.branches import BranchNameError, DocsBranchError
from shipflow.release.git import GitError
from shipflow.release.tags import PushError, ReleaseError
from shipflow.scaffold import InitError, ci_providers, init_folder

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("error", "line", "code"),
    [
        (BadRevision("unknown revision 'x'"), "db.migrate: unknown revision 'x'", 2),
        (DatabaseUnreachable("no answer"), "db.migrate failed: no answer", 1),
        (ManifestError("changed"), "db.migrate failed: changed", 1),
        (DirtyTreeRefused("dirty"), "db.migrate refused: dirty", 2),
        (GitError("no repo"), "db.migrate refused: no repo", 2),
        (ReleaseError("not main"), "db.migrate refused: not main", 2),
        (PushError("not pushed"), "db.migrate failed: not pushed", 1),
        (DocsBranchError("branch"), "db.migrate refused: branch", 2),
        (BranchNameError("wip"), "db.migrate: wip", 2),
        (EnvProblems("2 problem(s)"), "db.migrate: 2 problem(s)", 2),
        (UnknownCheck("pylint"), "db.migrate: pylint", 2),
        (ChecksFailed("mypy (1.0s)"), "db.migrate failed: mypy (1.0s)", 1),
        (InitError("no folder"), "db.migrate: no folder", 2),
        (UnknownProvider("jenkins"), "db.migrate: jenkins", 2),
    ],
)
def test_each_domain_error_has_its_line_and_exit_code(error: ShipflowError, line: str, code: int) -> None:
    assert message_of("db.migrate", error) == line
    assert error.exit_code == code


def test_checks_summary_counts_passes_and_names_the_failed_checks() -> None:
    passed = CheckResult("ruff check", True, 0.5, "")
    failed = CheckResult("mypy", False, 1.0, "error: x")
    assert checks_summary([passed]) == "1 checks (0.5s)"
    with pytest.raises(ChecksFailed, match=r"^mypy \(1.5s\)$"):
        checks_summary([passed, failed])
    assert result_lines(failed)[1] == "error: x"
    assert len(result_lines(passed)) == 1


def test_db_check_lines_show_the_detail_of_a_pass_and_indent_the_problems_of_a_failure() -> None:
    passed = DbCheckResult("single head", True, 0.1, "", "0003")
    failed = DbCheckResult("drift", False, 0.2, "add_column a\nadd_column b", "")
    assert check_lines(passed)[0].endswith("  0003")
    assert check_lines(failed)[1:] == ["      add_column a", "      add_column b"]


def test_problem_lines_are_indented_and_masked() -> None:
    problem = Problem("envs/.env", "bad value s3cret", line=3, key="TOKEN")
    assert problem_lines([problem], ["s3cret"]) == ["  envs/.env:3: TOKEN: bad value ****"]


def test_ci_file_status_and_an_unknown_provider(tmp_path: Path) -> None:
    assert file_status("a", "a", check=True) == "unchanged"
    assert file_status(None, "a", check=True) == "missing"
    assert file_status("b", "a", check=False) == "updated"
    with pytest.raises(UnknownProvider, match="give --provider github or gitlab"):
        generate_ci_files(tmp_path, "jenkins", check=False, on_line=print)


def test_init_providers_default_to_github_and_refuse_unknown_ones(tmp_path: Path) -> None:
    assert ci_providers([]) == ("github",)
    assert ci_providers(["none"]) == ()
    with pytest.raises(InitError, match="unknown --ci jenkins"):
        ci_providers(["jenkins"])
    with pytest.raises(InitError, match="is not a folder"):
        init_folder(str(tmp_path / "missing"), [])
