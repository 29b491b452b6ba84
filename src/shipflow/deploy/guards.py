"""Git guards before a deploy: the right branch, a clean tree, HEAD pushed.

:func:`refusals` is a pure function of :class:`GitFacts`; :func:`read_git_facts` gathers them with git.
``--force`` turns refusals into a loud warning that the audit record keeps.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.release import git
from shipflow.release.branches import MAIN, deploy_branch

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class GitFacts:
    """What the guards look at, read from the repository the deploy runs from."""

    branch: str | None  # None on a detached HEAD (a CI checkout of a tag)
    head: str
    dirty_paths: tuple[str, ...]
    release_tag: str | None  # a vX.Y.Z tag at HEAD
    pushed: bool | None  # HEAD reachable from the remote-tracking branch; None: no such ref here
    tag_on_main: bool  # HEAD reachable from main (or <remote>/main)
    remote: str = "origin"
    pushed_to: str | None = None  # the remote-tracking branch checked


def _tracking(root: Path, remote: str, branch: str) -> str | None:
    ref = f"refs/remotes/{remote}/{branch}"
    return ref if git.ref_exists(root, ref) else None


def read_git_facts(root: Path, environment: str, model: str, remote: str = "origin") -> GitFacts:
    """The facts for ``environment``'s guards; HEAD must be on the remote-tracking branch of the deploy
    branch (or of the current branch when the environment takes any)."""
    branch = git.current_branch(root)
    head = git.head_sha(root)
    wanted = deploy_branch(environment, model) or branch
    tracking = _tracking(root, remote, wanted) if wanted else None
    on_main = any(
        ref is not None and git.is_ancestor(root, head, ref)
        for ref in (
            _tracking(root, remote, MAIN),
            f"refs/heads/{MAIN}" if git.ref_exists(root, MAIN) else None,
        )
    )
    return GitFacts(
        branch=branch,
        head=head,
        dirty_paths=tuple(git.changed_paths(root)),
        release_tag=git.release_tag_at(root),
        pushed=None if tracking is None else git.is_ancestor(root, head, tracking),
        tag_on_main=on_main,
        remote=remote,
        pushed_to=tracking.removeprefix("refs/remotes/") if tracking else f"{remote}/{wanted}",
    )


def refusals(facts: GitFacts, environment: str, model: str) -> list[str]:
    """Why ``environment`` must not be deployed from this checkout (empty: it may be)."""
    wanted = deploy_branch(environment, model)
    found: list[str] = []
    on_branch = wanted is None or facts.branch == wanted
    tagged = environment == "production" and facts.release_tag is not None and facts.tag_on_main
    where = f"branch {facts.branch!r}" if facts.branch else "a detached HEAD"
    if not on_branch and not tagged:
        extra = " or a release tag vX.Y.Z on it" if environment == "production" else ""
        found.append(
            f"{environment} deploys from {wanted!r}{extra} under the {model} model, not from {where}: "
            f"`git checkout {wanted}`"
        )
    if environment != "production":
        return found
    if facts.dirty_paths:
        shown = ", ".join(facts.dirty_paths[:5]) + (" ..." if len(facts.dirty_paths) > 5 else "")
        found.append(f"the working tree has uncommitted changes ({shown}): commit or discard them")
    if facts.pushed is None:
        found.append(
            f"{facts.pushed_to} is unknown here, so HEAD cannot be shown to be pushed: "
            f"`{shlex.join(['git', 'fetch', facts.remote])}`"
        )
    elif not facts.pushed:
        found.append(
            f"HEAD {facts.head[:12]} is not on {facts.pushed_to}: push it first "
            f"(`{shlex.join(['git', 'push', facts.remote])}`)"
        )
    return found
