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

    Refused, changing nothing, unless: the version is X.Y.Z and above the latest release; HEAD is on
    main (under gitflow, with develop merged); no tracked file has uncommitted changes; the tag is free.
    """
    from shipflow.branches import git_settings
    from shipflow.git import GitError, repo_root
    from shipflow.project import SettingsError, load_project
    from shipflow.release import ReleaseError, make_release, plan_release

    if not version:
        raise Exit("release: give the version, e.g. `inv release --version 1.4.0`", code=2)
    try:
        project = load_project()
        settings = git_settings(project)
        root = repo_root(project.root)
        plan = plan_release(root, version, settings.model, remote=settings.remote)
        make_release(root, plan, push_to=settings.remote if push else None)
    except (SettingsError, GitError, ReleaseError) as error:
        raise Exit(f"release: {error}", code=2) from None
    since = f"since {plan.previous_tag}" if plan.previous_tag else "first release"
    count = plan.message.count("\n- ")
    print(f"tagged {plan.tag} on {plan.commit[:12]} ({count} commit(s) {since})")
    print(
        f"pushed {plan.tag} to {settings.remote}"
        if push
        else f"push it with: git push {settings.remote} {plan.tag}"
    )
