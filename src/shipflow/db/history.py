"""A history nobody edits: migration files compared with the base branch, and with a committed manifest
of their checksums. A clone that cannot see the base branch (a shallow CI checkout) fetches its history
from ``origin``; when that is not possible the history check fails, saying how to give it the history.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipflow.env.masking import mask
from shipflow.errors import Failed
from shipflow.release import git

if TYPE_CHECKING:
    from shipflow.db.settings import DbSettings

MANIFEST_NOTE = (
    "Checksums of the migration files; `inv db.check` fails when a locked file changes or disappears. "
    "`inv db.lock` adds new files and never rewrites an entry."
)
REMOTE = "origin"
FETCH_TIMEOUT_SECONDS = 300
_KINDS = {"M": "modified", "T": "modified", "D": "deleted", "R": "renamed", "A": "added", "C": "added"}


class ManifestError(Failed):
    """The manifest is missing or not the JSON ``inv db.lock`` writes."""


class HistoryUnavailable(Failed):
    """The base branch cannot be seen here, even after fetching it: the history check cannot pass."""


@dataclass(frozen=True)
class HistoryChange:
    """A migration file that differs from the base: modified, deleted, renamed or added."""

    kind: str
    path: str
    new_path: str | None = None

    def __str__(self) -> str:
        return f"{self.path} renamed to {self.new_path}" if self.new_path else f"{self.path} {self.kind}"


@dataclass(frozen=True)
class HistoryReport:
    """What the comparison with the base branch found; ``note`` says how the base was reached."""

    base: str
    changes: tuple[HistoryChange, ...] = ()
    note: str = ""

    @property
    def forbidden(self) -> tuple[HistoryChange, ...]:
        return tuple(change for change in self.changes if change.kind != "added")


def checksum(path: Path) -> str:
    """sha256 of the file with CRLF read as LF, so a checkout's line endings do not count as an edit."""
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def migration_files(versions_dir: Path) -> dict[str, str]:
    """File name -> checksum for every migration (``*.py``) in the versions folder."""
    if not versions_dir.is_dir():
        return {}
    return {path.name: checksum(path) for path in sorted(versions_dir.glob("*.py")) if path.is_file()}


def _usable_base(root: Path, branch: str) -> tuple[str, str] | None:
    """(the base ref, its merge base with HEAD): ``branch``, else ``origin/<branch>``; None when neither
    is here or their common history is cut off (a shallow clone)."""
    for ref in (branch, f"{REMOTE}/{branch}"):
        if git.commit_of(root, ref) and (base := git.merge_base(root, "HEAD", ref)):
            return ref, base
    return None


def _fetch_argv(root: Path, branch: str) -> list[str]:
    """``git fetch`` of the base branch into ``origin/<branch>``, with the whole history of a shallow clone
    (a merge base needs both sides' history)."""
    deepen = ["--unshallow"] if _git_says(root, "rev-parse", "--is-shallow-repository") == "true" else []
    refspec = f"+refs/heads/{branch}:refs/remotes/{REMOTE}/{branch}"
    return ["git", "-C", str(root), "fetch", "--quiet", "--no-tags", *deepen, REMOTE, refspec]


def _git_says(root: Path, *args: str) -> str:
    """git's answer to a question (stripped stdout), empty when it failed."""
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def fetch_base(root: Path, branch: str) -> str | None:
    """Fetch ``branch`` (and a shallow clone's history) from ``origin``; None when it worked, else why not.

    Never prompts: a remote that asks for credentials fails instead of waiting for an answer.
    """
    if REMOTE not in _git_says(root, "remote").split():
        return f"no remote {REMOTE!r} to fetch it from"
    environ = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    environ.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    try:
        done = subprocess.run(
            _fetch_argv(root, branch),
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            env=environ,
            timeout=FETCH_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return f"`git fetch {REMOTE} {branch}` took over {FETCH_TIMEOUT_SECONDS} s"
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    cause = next(
        (line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1] if lines else ""
    )
    return mask(f"`git fetch {REMOTE} {branch}` failed: {cause[:200] or f'exit {done.returncode}'}")


def compare_with_base(settings: DbSettings) -> HistoryReport:
    """Migration files modified, deleted or renamed since the merge base of HEAD and the base branch.

    The base is ``base_branch``, else ``origin/<base_branch>``, fetched from ``origin`` when neither is
    here or a shallow clone cuts their common history off. Uncommitted changes count: editing a merged
    migration fails before it is committed. Raises :class:`HistoryUnavailable` when the base stays out of
    sight: a check that cannot compare must not pass.
    """
    root = git.repo_root(settings.root)
    branch = settings.base_branch
    found = _usable_base(root, branch)
    fetched = False
    if found is None:
        why_not = fetch_base(root, branch)
        found = _usable_base(root, branch) if why_not is None else None
        fetched = why_not is None
        if found is None:
            raise HistoryUnavailable(
                f"cannot see the base branch {branch} (no {branch} or {REMOTE}/{branch} sharing history "
                f"with HEAD; {why_not or 'fetched, still none'}): fetch it (`git fetch {REMOTE} {branch}`, "
                "with --unshallow in a shallow clone), or in CI check out with the whole history "
                "(GitHub: fetch-depth: 0, GitLab: GIT_DEPTH: 0)"
            )
    base_ref, base = found
    versions = settings.versions_dir.relative_to(root).as_posix()
    changes = [
        HistoryChange(_KINDS.get(status, "modified"), path, new_path)
        for status, path, new_path in git.changes_since(root, base, versions)
        if path.endswith(".py") or (new_path or "").endswith(".py")
    ]
    return HistoryReport(base_ref, tuple(changes), note=f"fetched from {REMOTE}" if fetched else "")


def read_manifest(path: Path) -> dict[str, str]:
    """File name -> checksum from the manifest; raise :class:`ManifestError` naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: not found; run `inv db.lock` and commit it") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ManifestError(f"{path}: not a manifest written by `inv db.lock` ({error})") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise ManifestError(f'{path}: no "files" table of name -> sha256; restore it from git')
    return {str(name): digest for name, digest in files.items()}


@dataclass(frozen=True)
class ManifestProblem:
    """A migration file that disagrees with the manifest: modified, deleted, renamed, or not locked yet."""

    name: str
    kind: str
    new_name: str | None = None

    def describe(self, folder: str) -> str:
        path = f"{folder}/{self.name}"
        if self.kind == "renamed":
            return f"{path} was renamed to {self.new_name}: migrations are never renamed; rename it back"
        if self.kind == "deleted":
            return f"{path} was deleted: migrations are never deleted; restore it from git"
        if self.kind == "modified":
            restore = shlex.join(["git", "checkout", "--", path])
            return (
                f"{path} was modified after it was locked: restore it from git (`{restore}`) "
                "and write a new migration instead"
            )
        return f"{path} is not in the manifest: review it, run `inv db.lock` and commit both"


def manifest_problems(files: dict[str, str], locked: dict[str, str]) -> list[ManifestProblem]:
    """Every difference between the migration files (name -> checksum) and the manifest."""
    unlocked = {digest: name for name, digest in files.items() if name not in locked}
    problems = []
    for name, digest in sorted(locked.items()):
        if name in files:
            if files[name] != digest:
                problems.append(ManifestProblem(name, "modified"))
        elif digest in unlocked:
            problems.append(ManifestProblem(name, "renamed", unlocked.pop(digest)))
        else:
            problems.append(ManifestProblem(name, "deleted"))
    problems.extend(ManifestProblem(name, "unlocked") for name in sorted(unlocked.values()))
    return problems


def write_manifest(path: Path, locked: dict[str, str]) -> None:
    data = {"note": MANIFEST_NOTE, "algorithm": "sha256", "files": dict(sorted(locked.items()))}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class LockResult:
    added: tuple[str, ...]
    problems: tuple[ManifestProblem, ...]


def lock(settings: DbSettings) -> LockResult:
    """Add new migration files to the manifest (creating it); locked entries are never rewritten.

    ``problems`` lists locked files that changed, moved or disappeared: locking does not bless them, and a
    renamed file's new name is not added.
    """
    files = migration_files(settings.versions_dir)
    locked = read_manifest(settings.manifest) if settings.manifest.exists() else {}
    found = manifest_problems(files, locked)
    added = sorted(problem.name for problem in found if problem.kind == "unlocked")
    if added or not settings.manifest.exists():
        write_manifest(settings.manifest, {**locked, **{name: files[name] for name in added}})
    return LockResult(tuple(added), tuple(problem for problem in found if problem.kind != "unlocked"))
