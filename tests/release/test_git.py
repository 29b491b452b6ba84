"""Git facts on real repositories in a temporary folder: sha, dirty, release tags, time, archive."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from support import git as run_git
from support import make_repository

from shipflow.release import git

pytestmark = [pytest.mark.unit, pytest.mark.needs("git")]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "app.txt").write_text("one\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.txt").write_text("inner\n")
    (tmp_path / ".gitignore").write_text("*.log\n")
    make_repository(tmp_path, "first")
    return tmp_path


def names_in(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        return {member.name for member in tar.getmembers() if member.isfile()}


def test_root_and_head_of_a_repository(repo: Path) -> None:
    assert git.repo_root(repo / "sub") == repo
    assert git.head_sha(repo) == run_git(repo, "rev-parse", "HEAD")
    assert len(git.head_sha(repo)) == 40


def test_a_folder_outside_any_repository_is_a_clear_error(tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(git.GitError, match="is not inside a git repository: run 'git init' and commit first"):
        git.repo_root(outside)


def test_a_repository_without_commits_says_so(tmp_path: Path) -> None:
    run_git(tmp_path, "init", "-q")
    with pytest.raises(git.GitError, match="has no commit yet"):
        git.head_sha(tmp_path)


def test_only_changes_to_tracked_files_make_the_tree_dirty(repo: Path) -> None:
    (repo / "new.txt").write_text("untracked\n")
    (repo / "debug.log").write_text("ignored\n")
    assert not git.is_dirty(repo)
    assert git.changed_paths(repo, include_untracked=True) == ["new.txt"]
    (repo / "app.txt").write_text("two\n")
    assert git.changed_paths(repo) == ["app.txt"]


def test_the_highest_release_tag_at_a_commit(repo: Path) -> None:
    assert git.release_tag_at(repo) is None
    run_git(repo, "tag", "v1.9.0")
    run_git(repo, "tag", "v1.10.0")
    run_git(repo, "tag", "nightly")
    assert git.release_tag_at(repo) == "v1.10.0"


def test_commit_time_is_the_committer_time_in_utc(repo: Path) -> None:
    seconds = int(run_git(repo, "show", "-s", "--format=%ct", "HEAD"))
    moment = git.commit_time(repo)
    assert moment.timestamp() == seconds
    offset = moment.utcoffset()
    assert offset is not None and offset.total_seconds() == 0


def test_remote_url_prefers_origin(repo: Path) -> None:
    assert git.remote_url(repo) is None
    run_git(repo, "remote", "add", "backup", "https://backup.example.invalid/app.git")
    run_git(repo, "remote", "add", "origin", "https://origin.example.invalid/app.git")
    assert git.remote_url(repo) == "https://origin.example.invalid/app.git"


def test_the_archive_holds_committed_content_only(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (repo / "new.txt").write_text("untracked\n")
    (repo / "debug.log").write_text("ignored\n")
    (repo / "app.txt").write_text("modified\n")
    out = tmp_path_factory.mktemp("archives")
    with (out / "head.tar").open("wb") as stream:
        git.write_archive(repo, git.head_sha(repo), stream)
    assert names_in(out / "head.tar") == {".gitignore", "app.txt", "sub/inner.txt"}
    with tarfile.open(out / "head.tar") as tar:
        member = tar.extractfile("app.txt")
        assert member is not None and member.read() == b"one\n"
    with (out / "sub.tar").open("wb") as stream:
        git.write_archive(repo, "HEAD", stream, subdir="sub")
    assert names_in(out / "sub.tar") == {"inner.txt"}


def test_the_working_tree_commit_holds_tracked_changes_and_leaves_everything_as_it_was(repo: Path) -> None:
    head = git.head_sha(repo)
    assert git.working_tree_commit(repo) == head
    (repo / "app.txt").write_text("modified\n")
    snapshot = git.working_tree_commit(repo)
    assert snapshot != head
    assert run_git(repo, "show", f"{snapshot}:app.txt") == "modified"
    assert git.head_sha(repo) == head
    assert run_git(repo, "status", "--porcelain") == "M app.txt"
    assert run_git(repo, "stash", "list") == ""
    assert git.path_exists_at(repo, snapshot, "sub/inner.txt")
    assert not git.path_exists_at(repo, snapshot, "new.txt")
