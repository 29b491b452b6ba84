"""The branch model: which names each model allows, and which branch releases and deploys."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.project import SettingsError, load_project
from shipflow.release.branches import (
    GitSettings,
    branch_kind,
    branch_problem,
    deploy_branch,
    git_settings,
    must_be_merged_before_release,
    release_branch,
    valid_branch,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "name",
    [
        "main",
        "develop",
        "feature/auth-yandex",
        "research/scoring-v2",
        "hotfix/PAY-12",
        "documentation",
        "documentation/new-runbook",
        "feature/team/sub.task_2",
    ],
)
def test_gitflow_allows_the_branches_of_source_document_000(name: str) -> None:
    assert valid_branch(name, "gitflow"), branch_problem(name, "gitflow")


@pytest.mark.parametrize(
    "name", ["master", "dev", "feature", "feature/", "bugfix/x", "feature/a..b", "feature/-x", "release/1.0"]
)
def test_gitflow_refuses_other_names_and_says_what_is_allowed(name: str) -> None:
    problem = branch_problem(name, "gitflow")
    assert problem is not None and repr(name) in problem


def test_github_flow_has_no_develop_or_research_branches() -> None:
    assert valid_branch("feature/x", "github-flow")
    assert valid_branch("documentation", "github-flow")
    assert not valid_branch("develop", "github-flow")
    assert not valid_branch("research/x", "github-flow")
    problem = branch_problem("develop", "github-flow")
    assert problem is not None and "allowed: main, feature/*" in problem


def test_a_malformed_suffix_gets_an_example_of_a_good_one() -> None:
    assert branch_problem("feature/bad name", "gitflow") == (
        "branch 'feature/bad name': the part after 'feature/' must be words of letters, digits, '.', '_' or "
        "'-' separated by '/', e.g. 'feature/short-description'"
    )


def test_kinds() -> None:
    assert branch_kind("main") == "main"
    assert branch_kind("documentation/x") == "documentation"
    assert branch_kind("hotfix/db") == "hotfix"
    assert branch_kind("wip") is None


def test_release_and_deploy_branches_per_model() -> None:
    assert release_branch("gitflow") == release_branch("github-flow") == "main"
    assert must_be_merged_before_release("gitflow") == "develop"
    assert must_be_merged_before_release("github-flow") is None
    assert deploy_branch("production", "gitflow") == "main"
    assert deploy_branch("staging", "gitflow") == "develop"
    assert deploy_branch("staging", "github-flow") == "main"
    assert deploy_branch("local", "gitflow") is None
    with pytest.raises(ValueError, match="unknown branch model 'trunk'"):
        deploy_branch("production", "trunk")


def test_settings_default_to_gitflow_and_name_the_key_when_wrong(tmp_path: Path) -> None:
    assert git_settings(load_project(tmp_path)) == GitSettings(model="gitflow", remote="origin")
    (tmp_path / "pyproject.toml").write_text('[tool.shipflow.git]\nmodel = "trunk"\n')
    with pytest.raises(SettingsError, match=r"pyproject.toml: \[tool.shipflow.git\] model must be one of"):
        git_settings(load_project(tmp_path))


def test_this_repository_uses_gitflow(repo_root: Path) -> None:
    assert git_settings(load_project(repo_root)).model == "gitflow"


def suggested_command(problem: str) -> str:
    """The command a branch problem suggests (after "rename it with", between backticks)."""
    return problem.split("rename it with ", 1)[1].removeprefix("`").removesuffix("`")


@pytest.mark.parametrize("name", ["main ", "$(id)", "`id`", "wip;rm -rf ~", "it's", "a b/c", "~/x"])
def test_the_suggested_rename_names_exactly_that_branch_to_a_shell(name: str) -> None:
    import shlex

    problem = branch_problem(name, "gitflow")
    assert problem is not None
    command = suggested_command(problem)
    assert shlex.quote(name) in command
    argv = shlex.split(command)
    assert argv[:3] == ["git", "branch", "-m"]
    assert argv[-2] == name and valid_branch(argv[-1], "gitflow")


def test_a_very_long_name_is_cut_in_the_message_and_the_rename_still_works() -> None:
    import shlex

    problem = branch_problem("x" * 100_000, "gitflow")
    assert problem is not None and len(problem) < 600
    argv = shlex.split(suggested_command(problem))
    assert argv[:3] == ["git", "branch", "-m"] and valid_branch(argv[-1], "gitflow")
