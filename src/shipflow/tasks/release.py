"""``inv release``: tag a release ``vX.Y.Z`` on main, with the commits since the last tag as its message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.tasks import task

from shipflow.errors import exit_codes

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
    from shipflow.project import load_project
    from shipflow.release.tags import tag_release

    with exit_codes("release"):
        lines = tag_release(load_project(), version, push=push)
    print("\n".join(lines))
