"""Releases: an annotated ``vX.Y.Z`` tag on main, refused unless the repository is ready for it.

:func:`plan_release` checks everything first and changes nothing; :func:`make_release` then writes the
tag (and pushes it when asked). The tag's message lists the commits since the previous release tag.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipflow.env.masking import mask
from shipflow.errors import BadInput, Failed, Refused
from shipflow.release import git
from shipflow.release.branches import must_be_merged_before_release, release_branch

if TYPE_CHECKING:
    from shipflow.project import Project

VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


class ReleaseError(Refused):
    """The release is refused: the message says why and what to do."""


class PushError(Failed):
    """The tag was written here but could not be pushed: the message says how to push it."""


@dataclass(frozen=True)
class ReleasePlan:
    """A release that passed every check: the tag to write, on which commit, with which message."""

    tag: str
    commit: str
    previous_tag: str | None
    message: str
    commit_count: int


def parse_version(text: str) -> tuple[int, int, int]:
    """``X.Y.Z`` (semantic version, no leading zeros) as numbers; a leading ``v`` is accepted."""
    match = VERSION.match(text.removeprefix("v"))
    if not match:
        raise ReleaseError(
            f"version {text!r} is not X.Y.Z (three numbers without leading zeros, e.g. 1.4.0); "
            "pre-release and build suffixes are not release versions"
        )
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def tag_message(tag: str, previous_tag: str | None, subjects: list[str]) -> str:
    """The annotated tag's message: a title, then one line per commit since ``previous_tag``."""
    since = f"since {previous_tag}" if previous_tag else "(first release)"
    lines = [f"Release {tag}", "", f"Changes {since}:"]
    lines.extend(f"- {subject}" for subject in subjects or ["no new commits"])
    return "\n".join(lines) + "\n"


def plan_release(root: Path, version: str, model: str, *, remote: str | None = None) -> ReleasePlan:
    """Check that ``version`` can be released from ``root`` now, and return what will be tagged.

    Refused (ReleaseError): a malformed version; a branch other than main; under gitflow, develop not
    merged into main; uncommitted changes to tracked files; the tag already taken (locally, or on
    ``remote`` when given and fetched); a version not above the latest release.
    """
    numbers = parse_version(version)
    tag = "v{}.{}.{}".format(*numbers)
    expected = release_branch(model)
    branch = git.current_branch(root)
    if branch != expected:
        on = f"on branch {branch!r}" if branch else "on a detached HEAD"
        raise ReleaseError(
            f"releases are tagged on {expected!r}, but this checkout is {on}: `git switch {expected}`"
        )
    head = git.head_sha(root)
    merged = must_be_merged_before_release(model)
    if merged:
        for ref in (merged, f"{remote}/{merged}" if remote else None):
            if ref and git.ref_exists(root, ref) and not git.is_ancestor(root, ref, head):
                raise ReleaseError(
                    f"{ref} has commits that {expected} does not (gitflow releases what develop holds): "
                    f"merge it first, `{shlex.join(['git', 'merge', '--no-ff', ref])}`"
                )
    changed = git.changed_paths(root)
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise ReleaseError(f"uncommitted changes to tracked files ({shown}): commit or stash them first")
    if git.tag_exists(root, tag):
        raise ReleaseError(f"tag {tag} already exists: pick the next version (`git tag --list 'v*'`)")
    existing = git.release_tags(root)
    if existing and numbers <= parse_version(existing[-1]):
        raise ReleaseError(f"version {tag} is not above the latest release {existing[-1]}: pick a higher one")
    reachable = git.release_tags(root, merged_into=head)
    previous = reachable[-1] if reachable else None
    subjects = git.commit_subjects(root, previous, head)
    return ReleasePlan(
        tag=tag,
        commit=head,
        previous_tag=previous,
        message=tag_message(tag, previous, subjects),
        commit_count=len(subjects),
    )


def make_release(root: Path, plan: ReleasePlan, *, push_to: str | None = None) -> None:
    """Write the annotated tag of ``plan``; push it to the remote ``push_to`` when given.

    ReleaseError: the tag could not be written (nothing changed). PushError: the tag exists here but the
    push failed. Messages pass through :func:`~shipflow.env.masking.mask` (a remote URL may hold a token).
    """
    try:
        git.create_annotated_tag(root, plan.tag, plan.message, plan.commit)
    except git.GitError as error:
        raise ReleaseError(
            mask(f"{error} (git needs user.name and user.email: `git config user.email ...`)")
        ) from None
    if push_to:
        try:
            git.push_ref(root, push_to, f"refs/tags/{plan.tag}")
        except git.GitError as error:
            raise PushError(
                mask(
                    f"tag {plan.tag} was created locally but not pushed: {error}; "
                    f"fix the remote, then push it with `{shlex.join(['git', 'push', push_to, plan.tag])}`"
                )
            ) from None


def tag_release(project: Project, version: str, *, push: bool) -> list[str]:
    """``inv release``: plan and tag ``version`` (pushing it when asked); the lines saying what was done."""
    from shipflow.release.branches import git_settings

    if not version:
        raise BadInput("give the version, e.g. `inv release --version 1.4.0`")
    settings = git_settings(project)
    root = git.repo_root(project.root)
    plan = plan_release(root, version, settings.model, remote=settings.remote)
    make_release(root, plan, push_to=settings.remote if push else None)
    since = f"since {plan.previous_tag}" if plan.previous_tag else "first release"
    commits = f"{plan.commit_count} commit(s)" if plan.commit_count else "no new commits"
    pushed = (
        f"pushed {plan.tag} to {settings.remote}"
        if push
        else f"push it with: {shlex.join(['git', 'push', settings.remote, plan.tag])}"
    )
    return [f"tagged {plan.tag} on {plan.commit[:12]} ({commits} {since})", mask(pushed)]
