"""``inv release``: tag a release ``vX.Y.Z`` on main, with the commits since the last tag as its message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.exceptions import Exit
from invoke.tasks import task

if TYPE_CHECKING:
    from invoke.context import Context


@task(
    name="release",
    help={
        "version": "the version to release, X.Y.Z (e.g. 1.4.0); the tag is vX.Y.Z",
        "push": "push the tag to the remote of [tool.shipflow.git] remote (default origin)",
    },
)
def release(c: Context, version: str = "", push: bool = False) -> None:
    """Tag a release: an annotated tag vX.Y.Z on main listing the commits since the last release tag.

    Refused, changing nothing (exit 2), unless: the version is X.Y.Z and above the latest release; HEAD
    is on main (under gitflow, with develop merged); no tracked file has uncommitted changes; the tag is
    free. A failed --push exits 1: the tag exists locally, push it with `git push REMOTE TAG`.
    """
    from shipflow.env.masking import mask
    from shipflow.project import SettingsError, load_project
    from shipflow.release.branches import git_settings
    from shipflow.release.git import GitError, repo_root
    from shipflow.release.tags import PushError, ReleaseError, make_release, plan_release

    if not version:
        raise Exit("release: give the version, e.g. `inv release --version 1.4.0`", code=2)
    try:
        project = load_project()
        settings = git_settings(project)
        root = repo_root(project.root)
        plan = plan_release(root, version, settings.model, remote=settings.remote)
        make_release(root, plan, push_to=settings.remote if push else None)
    except (SettingsError, GitError, ReleaseError) as error:
        raise Exit(mask(f"release: {error}"), code=2) from None
    except PushError as error:
        raise Exit(mask(f"release: {error}"), code=1) from None
    since = f"since {plan.previous_tag}" if plan.previous_tag else "first release"
    commits = f"{plan.commit_count} commit(s)" if plan.commit_count else "no new commits"
    print(f"tagged {plan.tag} on {plan.commit[:12]} ({commits} {since})")
    print(
        mask(
            f"pushed {plan.tag} to {settings.remote}"
            if push
            else f"push it with: git push {settings.remote} {plan.tag}"
        )
    )
