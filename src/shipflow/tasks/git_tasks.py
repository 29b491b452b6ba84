"""``inv git.check``: the current branch's name against the branch model of [tool.shipflow.git]."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.exceptions import Exit
from invoke.tasks import task

if TYPE_CHECKING:
    from invoke.context import Context


@task(help={"branch": "check this name instead of the current branch"})
def check(c: Context, branch: str = "") -> None:
    """Check the branch name against the branch model ([tool.shipflow.git] model: gitflow or github-flow).

    gitflow allows main, develop, feature/*, research/*, hotfix/*, documentation and documentation/*;
    github-flow allows main, feature/*, hotfix/*, documentation and documentation/*. Exit 2 otherwise.
    """
    from shipflow.project import SettingsError, load_project
    from shipflow.release.branches import allowed_branches, branch_problem, git_settings
    from shipflow.release.git import GitError, current_branch, repo_root

    try:
        project = load_project()
        model = git_settings(project).model
        name = branch or current_branch(repo_root(project.root))
    except (SettingsError, GitError) as error:
        raise Exit(f"git.check: {error}", code=2) from None
    if name is None:
        raise Exit("git.check: HEAD is detached, so there is no branch to check; `git switch BRANCH`", code=2)
    problem = branch_problem(name, model)
    if problem:
        raise Exit(f"git.check: {problem}", code=2)
    print(f"ok  branch {name!r} fits the {model} model ({', '.join(allowed_branches(model))})")


namespace = Collection("git")
namespace.add_task(check)
