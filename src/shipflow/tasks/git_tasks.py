"""``inv git.check``: the current branch's name against the branch model of [tool.shipflow.git]."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.tasks import task

from shipflow.errors import exit_codes

if TYPE_CHECKING:
    from invoke.context import Context


@task(help={"branch": "check this name instead of the current branch"})
def check(c: Context, branch: str = "") -> None:
    """Check the branch name against the branch model ([tool.shipflow.git] model: gitflow or github-flow).

    gitflow allows main, develop, feature/*, research/*, hotfix/*, documentation and documentation/*;
    github-flow allows main, feature/*, hotfix/*, documentation and documentation/*. Exit 2 otherwise.
    """
    from shipflow.project import load_project
    from shipflow.release.branches import check_branch

    with exit_codes("git.check"):
        line = check_branch(load_project(), branch)
    print(line)


namespace = Collection("git")
namespace.add_task(check)
