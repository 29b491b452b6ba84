"""Git facts as plain functions: the repository root, the commit, its tags and time, a clean export.

Every function runs ``git -C ROOT ...`` with an argv list and never changes the repository's refs, index
or working tree (``git stash create`` only writes an unreferenced commit object). Failures raise
:class:`GitError` with git's own message and what to do.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from shipflow.errors import Refused

RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
"""A release tag as the seed documents write them: ``v1.2.3``."""


class GitError(Refused):
    """git is missing, the folder is not a repository, or a git command failed; nothing was changed."""


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as error:
        raise GitError("git is not installed: run 'bash scripts/setup.sh'") from error
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        # git's own "fatal:"/"error:" line says what went wrong; hints and advice come after it.
        detail = next(
            (line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1] if lines else ""
        )
        detail = detail or f"exit {done.returncode}"

        command = next(arg for arg in args if not arg.startswith("-") and "=" not in arg)
        raise GitError(f"git {command} failed in {root}: {detail}")
    return done.stdout


def repo_root(start: Path) -> Path:
    """The top folder of the git repository holding ``start``."""
    try:
        return Path(_git(start, "rev-parse", "--show-toplevel").strip())
    except GitError as error:
        raise GitError(f"{start} is not inside a git repository: run 'git init' and commit first") from error


def head_sha(root: Path) -> str:
    """The full sha of the commit HEAD points to."""
    try:
        return _git(root, "rev-parse", "--verify", "HEAD^{commit}").strip()
    except GitError as error:
        raise GitError(f"{root} has no commit yet: commit your files first") from error


def changed_paths(root: Path, *, include_untracked: bool = False) -> list[str]:
    """Paths whose working-tree or staged content differs from HEAD (and untracked ones, when asked).

    Ignored files are never listed.
    """
    untracked = "--untracked-files=all" if include_untracked else "--untracked-files=no"
    output = _git(root, "status", "--porcelain=v1", "-z", untracked)
    entries = output.split("\0")
    paths: list[str] = []
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if not entry:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":  # a rename or copy is followed by its source path
            index += 1
    return paths


def is_dirty(root: Path) -> bool:
    """Whether tracked files differ from HEAD (staged or not); untracked and ignored files do not count."""
    return bool(changed_paths(root))


def release_tag_at(root: Path, commit: str = "HEAD") -> str | None:
    """The highest ``vX.Y.Z`` tag pointing at ``commit``, or None."""
    versions = {
        tag: tuple(int(part) for part in match.groups())
        for tag in _git(root, "tag", "--points-at", commit).split()
        if (match := RELEASE_TAG.match(tag))
    }
    return max(versions, key=lambda tag: versions[tag]) if versions else None


def commit_time(root: Path, commit: str = "HEAD") -> datetime:
    """When ``commit`` was committed, in UTC."""
    seconds = _git(root, "show", "-s", "--format=%ct", commit).strip()
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def remote_url(root: Path) -> str | None:
    """The URL of the ``origin`` remote, else of the first remote, else None (may hold credentials)."""
    remotes = _git(root, "remote").split()
    if not remotes:
        return None
    name = "origin" if "origin" in remotes else remotes[0]
    return _git(root, "remote", "get-url", name).strip() or None


def working_tree_commit(root: Path) -> str:
    """A commit holding HEAD plus the tracked changes of the working tree, without touching the tree.

    ``git stash create`` writes the commit object but no ref, so nothing else changes; with no changes
    this is HEAD itself. Untracked and ignored files are never included.
    """
    # The commit is never referenced, so a fixed identity is enough where none is configured (CI).
    identity = ("-c", "user.name=shipflow", "-c", "user.email=shipflow@localhost")
    created = _git(root, *identity, "stash", "create").strip()
    return created or head_sha(root)


def path_exists_at(root: Path, commit: str, path: str) -> bool:
    """Whether ``path`` (relative to the repository root) is committed in ``commit``."""
    done = subprocess.run(
        ["git", "-C", str(root), "cat-file", "-e", f"{commit}:{path}"],
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode == 0


def write_archive(root: Path, commit: str, destination: IO[bytes], *, subdir: str = ".") -> None:
    """Write an uncompressed tar of ``commit`` (or of its folder ``subdir``) to ``destination``.

    ``destination`` must be a real file (it needs a file descriptor). Only committed content is in it:
    untracked, ignored and modified-but-uncommitted files never are.
    """
    treeish = commit if subdir in ("", ".") else f"{commit}:{subdir.strip('/')}"
    done = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", treeish],
        stdout=destination,
        stderr=subprocess.PIPE,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()
        raise GitError(f"git archive {treeish} failed in {root}: {detail}")


def _succeeds(root: Path, *args: str) -> bool:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, check=False, stdin=subprocess.DEVNULL
    )
    return done.returncode == 0


def current_branch(root: Path) -> str | None:
    """The name of the branch HEAD is on (also before its first commit), or None on a detached HEAD."""
    done = subprocess.run(
        ["git", "-C", str(root), "symbolic-ref", "--quiet", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode == 1:
        return None
    if done.returncode != 0:
        repo_root(root)  # raises the clear "not inside a git repository" error
        raise GitError(f"git symbolic-ref failed in {root}: {done.stderr.strip()}")
    return done.stdout.strip()


def ref_exists(root: Path, ref: str) -> bool:
    """Whether ``ref`` (a branch, tag, ``refs/...`` name or sha) names a commit."""
    return _succeeds(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")


def tag_exists(root: Path, tag: str) -> bool:
    """Whether the tag ``tag`` exists locally."""
    return _succeeds(root, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}")


def is_ancestor(root: Path, ancestor: str, descendant: str = "HEAD") -> bool:
    """Whether ``ancestor`` is reachable from ``descendant`` (merged into it, or the same commit)."""
    return _succeeds(root, "merge-base", "--is-ancestor", ancestor, descendant)


def release_tags(root: Path, *, merged_into: str | None = None) -> list[str]:
    """Every ``vX.Y.Z`` tag, lowest version first; only those reachable from ``merged_into`` when given."""
    args = ["tag", "--list", "v*"] + (["--merged", merged_into] if merged_into else [])
    versions = {
        tag: tuple(int(part) for part in match.groups())
        for tag in _git(root, *args).split()
        if (match := RELEASE_TAG.match(tag))
    }
    return sorted(versions, key=lambda tag: versions[tag])


def commit_subjects(root: Path, since: str | None, until: str = "HEAD") -> list[str]:
    """``<short sha> <subject>`` of each commit after ``since`` up to ``until``, newest first."""
    revisions = f"{since}..{until}" if since else until
    return _git(root, "log", "--format=%h %s", revisions).splitlines()


def create_annotated_tag(root: Path, tag: str, message: str, commit: str = "HEAD") -> None:
    """Create the annotated tag ``tag`` on ``commit`` with ``message`` (git's user.name/email sign it)."""
    _git(root, "tag", "--annotate", "--no-sign", f"--message={message}", tag, commit)


def push_ref(root: Path, remote: str, ref: str) -> None:
    """Push ``ref`` (e.g. ``refs/tags/v1.2.0``) to ``remote``."""
    _git(root, "push", "--quiet", remote, ref)


def commit_of(root: Path, ref: str) -> str | None:
    """The full sha ``ref`` (a branch, ``origin/main``, a sha) names, or None when it names no commit here."""
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def merge_base(root: Path, first: str, second: str) -> str | None:
    """The best common ancestor of two commits, or None (unrelated, or cut off by a shallow clone)."""
    done = subprocess.run(
        ["git", "-C", str(root), "merge-base", first, second],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def changes_since(root: Path, commit: str, path: str) -> list[tuple[str, str, str | None]]:
    """(status letter, path, new path for a rename) for each tracked file under ``path`` whose working-tree
    content differs from ``commit``: ``A`` added, ``M`` modified, ``D`` deleted, ``R`` renamed, ``T`` type.

    Paths are relative to the repository root; untracked files are not listed.
    """
    output = _git(root, "diff", "--name-status", "-z", "--find-renames", commit, "--", path)
    fields = output.split("\0")
    found: list[tuple[str, str, str | None]] = []
    index = 0
    while index < len(fields) and fields[index]:
        status = fields[index][0]
        if status in "RC":
            found.append((status, fields[index + 1], fields[index + 2]))
            index += 3
        else:
            found.append((status, fields[index + 1], None))
            index += 2
    return found
