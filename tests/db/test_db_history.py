"""The history check against real git repositories: a merged migration modified, deleted or renamed
fails naming the file; an added one passes; a shallow clone fetches the base branch's history, and
without a way to see the base branch the check fails saying how to give it the history."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from db_support import NEW_MIGRATION, VERSIONS, make_db_project, shipflow
from support import commit_all, git

pytestmark = [pytest.mark.cli, pytest.mark.needs("git")]

FIRST = f"{VERSIONS}/0001_create_notes.py"


@pytest.fixture
def feature(tmp_path: Path) -> Path:
    """A repository whose main holds the migrations, checked out on a feature branch."""
    repo = make_db_project(tmp_path / "repo")
    git(repo, "checkout", "-q", "-b", "feature")
    return repo


def history_line(done: subprocess.CompletedProcess[str]) -> str:
    return next(line for line in done.stdout.splitlines() if "  history " in line)


def test_an_added_migration_passes_the_history_check(feature: Path) -> None:
    (feature / VERSIONS / "0004_add_tags.py").write_text(NEW_MIGRATION)
    commit_all(feature, "add tags")
    done = shipflow(feature, "db.check")
    assert history_line(done).startswith("ok"), done.stdout
    assert "compared with main" in history_line(done)


def test_a_modified_migration_fails_naming_the_file_even_before_it_is_committed(feature: Path) -> None:
    path = feature / FIRST
    path.write_text(path.read_text().replace("length=200", "length=250"))
    done = shipflow(feature, "db.check")
    assert done.returncode == 1
    assert history_line(done).startswith("FAIL")
    assert f"{FIRST} modified" in done.stdout
    assert "0001_create_notes.py was modified after it was locked" in done.stdout  # the manifest too
    commit_all(feature, "edit a merged migration")
    assert f"{FIRST} modified" in shipflow(feature, "db.check").stdout


def test_a_deleted_migration_fails_naming_the_file(feature: Path) -> None:
    git(feature, "rm", "-q", f"{VERSIONS}/0003_index_notes_created_at.py")
    commit_all(feature, "drop a migration")
    done = shipflow(feature, "db.check")
    assert done.returncode == 1
    assert f"{VERSIONS}/0003_index_notes_created_at.py deleted" in done.stdout
    assert "0003_index_notes_created_at.py was deleted" in done.stdout


def test_a_renamed_migration_fails_naming_both_names(feature: Path) -> None:
    git(feature, "mv", FIRST, f"{VERSIONS}/0001_notes.py")
    commit_all(feature, "rename")
    done = shipflow(feature, "db.check")
    assert done.returncode == 1
    assert f"{FIRST} renamed to {VERSIONS}/0001_notes.py" in done.stdout
    assert "0001_create_notes.py was renamed to 0001_notes.py" in done.stdout


def shallow_clone(origin: Path, clone: Path, *args: str) -> Path:
    """A depth-1 clone of ``origin`` (its ``args`` pick the branch), as CI checks out by default."""
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", *args, f"file://{origin}", str(clone)],
        check=True,
        capture_output=True,
    )
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    return clone


def edited_on_a_feature_branch(origin: Path, *, relock: bool) -> None:
    """A merged migration edited on ``feature`` (and its new checksum put in the manifest when ``relock``)."""
    git(origin, "checkout", "-q", "-b", "feature")
    path = origin / FIRST
    path.write_text(path.read_text() + "\n# a quiet edit\n")
    if relock:
        manifest = origin / "service" / "migrations" / "manifest.json"
        data = json.loads(manifest.read_text())
        data["files"][path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        manifest.write_text(json.dumps(data, indent=2) + "\n")
    commit_all(origin, "edit")


@pytest.mark.parametrize("relock", [False, True], ids=["manifest-untouched", "manifest-relocked"])
def test_a_shallow_clone_fetches_the_base_branch_and_catches_an_edit(tmp_path: Path, relock: bool) -> None:
    origin = make_db_project(tmp_path / "origin")
    edited_on_a_feature_branch(origin, relock=relock)
    clone = shallow_clone(origin, tmp_path / "clone", "--branch", "feature")
    done = shipflow(clone, "db.check")
    assert done.returncode == 1, done.stdout + done.stderr
    assert history_line(done).startswith("FAIL"), done.stdout
    assert f"{FIRST} modified" in done.stdout
    assert ("0001_create_notes.py was modified after it was locked" in done.stdout) is not relock
    assert "Traceback" not in done.stderr


def test_without_the_base_branch_or_a_remote_the_history_check_fails_saying_how(feature: Path) -> None:
    git(feature, "branch", "-q", "-D", "main")
    done = shipflow(feature, "db.check")
    assert done.returncode == 1, done.stdout + done.stderr
    assert history_line(done).startswith("FAIL"), done.stdout
    assert "cannot see the base branch main" in done.stdout
    assert "fetch-depth: 0" in done.stdout and "GIT_DEPTH: 0" in done.stdout
    for name in ("single head", "round trip", "drift", "manifest"):
        assert f"  {name} " in done.stdout  # the other checks still ran


def test_a_shallow_clone_of_untouched_migrations_passes(tmp_path: Path) -> None:
    origin = make_db_project(tmp_path / "origin")
    clone = shallow_clone(origin, tmp_path / "clone")
    done = shipflow(clone, "db.check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "compared with main" in history_line(done)
