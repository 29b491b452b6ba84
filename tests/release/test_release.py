"""`inv release` and `inv git.check` run as a user would on real git repositories in a temporary folder
(no mocked git)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support import git, git_environ, make_repository, run_shipflow

pytestmark = [pytest.mark.cli, pytest.mark.needs("git")]


def commit(repo: Path, name: str, text: str = "x\n") -> None:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"add {name}")


def shipflow(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_shipflow(*args, cwd=repo, env=git_environ())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A gitflow project on main with one release (v1.0.0) and a develop branch merged into main."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.shipflow.git]\nmodel = "gitflow"\n')
    make_repository(project, "start")
    git(project, "tag", "-a", "v1.0.0", "-m", "Release v1.0.0")
    git(project, "switch", "-q", "-c", "develop")
    commit(project, "feature.txt")
    git(project, "switch", "-q", "main")
    git(project, "merge", "-q", "--no-ff", "-m", "Merge develop", "develop")
    return project


def tags(repo: Path) -> list[str]:
    return git(repo, "tag", "--list").split()


def test_a_release_tags_main_with_the_commits_since_the_last_tag(repo: Path) -> None:
    done = shipflow(repo, "release", "--version", "1.1.0")
    assert done.returncode == 0, done.stderr
    assert "tagged v1.1.0" in done.stdout
    assert git(repo, "cat-file", "-t", "v1.1.0") == "tag"  # annotated
    assert git(repo, "rev-parse", "v1.1.0^{commit}") == git(repo, "rev-parse", "HEAD")
    message = git(repo, "tag", "-l", "--format=%(contents)", "v1.1.0")
    assert message.splitlines()[0] == "Release v1.1.0"
    assert "Changes since v1.0.0:" in message
    assert "add feature.txt" in message and "Merge develop" in message
    assert "start" not in message  # released in v1.0.0 already


def test_push_sends_the_tag_to_origin(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    done = shipflow(repo, "release", "--version", "1.1.0", "--push")
    assert done.returncode == 0, done.stderr
    assert "pushed v1.1.0 to origin" in done.stdout
    assert git(remote, "tag", "--list") == "v1.1.0"


def test_a_failed_push_keeps_the_local_tag_exits_1_and_says_how_to_push(repo: Path, tmp_path: Path) -> None:
    git(repo, "remote", "add", "origin", str(tmp_path / "missing.git"))
    done = shipflow(repo, "release", "--version", "1.1.0", "--push")
    assert done.returncode == 1  # not 2: the local tag was written
    assert tags(repo) == ["v1.0.0", "v1.1.0"]
    assert "tag v1.1.0 was created locally but not pushed" in done.stderr
    assert "`git push origin v1.1.0`" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_rejected_push_hides_the_password_of_the_remote_url(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "user:s3cret-canary@origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'no tags today' >&2\nexit 1\n")
    hook.chmod(0o755)
    (repo / "pyproject.toml").write_text(f'[tool.shipflow.git]\nmodel = "gitflow"\nremote = "{remote}"\n')
    git(repo, "commit", "-q", "-am", "push to a URL")
    done = shipflow(repo, "release", "--version", "1.1.0", "--push")
    assert done.returncode == 1
    assert "v1.1.0" in tags(repo)
    assert "failed to push some refs" in done.stderr  # git's own reason is shown ...
    assert "user:****@origin.git" in done.stderr  # ... with the password masked
    assert "s3cret-canary" not in done.stdout + done.stderr


def test_a_release_counts_its_commits_and_says_when_there_are_none(repo: Path) -> None:
    first = shipflow(repo, "release", "--version", "1.1.0")
    assert first.returncode == 0, first.stderr
    assert "(2 commit(s) since v1.0.0)" in first.stdout  # add feature.txt, Merge develop
    again = shipflow(repo, "release", "--version", "1.2.0")
    assert again.returncode == 0, again.stderr
    assert "(no new commits since v1.1.0)" in again.stdout
    assert "commit(s)" not in again.stdout
    assert "- no new commits" in git(repo, "tag", "-l", "--format=%(contents)", "v1.2.0")


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("1.1", "version '1.1' is not X.Y.Z"),
        ("01.2.0", "is not X.Y.Z"),
        ("1.2.0-rc1", "pre-release and build suffixes are not release versions"),
        ("0.9.0", "version v0.9.0 is not above the latest release v1.0.0"),
        ("1.0.0", "tag v1.0.0 already exists"),
    ],
)
def test_bad_or_taken_versions_are_refused(repo: Path, version: str, message: str) -> None:
    done = shipflow(repo, "release", "--version", version)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert tags(repo) == ["v1.0.0"]


def test_a_release_from_another_branch_is_refused(repo: Path) -> None:
    git(repo, "switch", "-q", "develop")
    done = shipflow(repo, "release", "--version", "1.1.0")
    assert done.returncode == 2
    assert (
        "releases are tagged on 'main', but this checkout is on branch 'develop': `git switch main`"
        in done.stderr
    )
    assert tags(repo) == ["v1.0.0"]


def test_gitflow_refuses_while_develop_has_unmerged_commits(repo: Path) -> None:
    git(repo, "switch", "-q", "develop")
    commit(repo, "later.txt")
    git(repo, "switch", "-q", "main")
    done = shipflow(repo, "release", "--version", "1.1.0")
    assert done.returncode == 2
    assert "develop has commits that main does not" in done.stderr
    (repo / "pyproject.toml").write_text('[tool.shipflow.git]\nmodel = "github-flow"\n')
    git(repo, "commit", "-q", "-am", "switch to github flow")
    assert shipflow(repo, "release", "--version", "1.1.0").returncode == 0


def test_uncommitted_changes_are_refused(repo: Path) -> None:
    (repo / "feature.txt").write_text("edited\n")
    done = shipflow(repo, "release", "--version", "1.1.0")
    assert done.returncode == 2
    assert "uncommitted changes to tracked files (feature.txt)" in done.stderr
    assert tags(repo) == ["v1.0.0"]


def test_the_first_release_lists_every_commit(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    commit(tmp_path, "a.txt")
    commit(tmp_path, "b.txt")
    done = shipflow(tmp_path, "release", "--version", "0.1.0")
    assert done.returncode == 0, done.stderr
    message = git(tmp_path, "tag", "-l", "--format=%(contents)", "v0.1.0")
    assert "Changes (first release):" in message
    assert "add a.txt" in message and "add b.txt" in message


def test_git_check_names_the_branch_and_the_model(repo: Path) -> None:
    ok = shipflow(repo, "git.check")
    assert ok.returncode == 0, ok.stderr
    assert "branch 'main' fits the gitflow model" in ok.stdout
    git(repo, "switch", "-q", "-c", "wip")
    bad = shipflow(repo, "git.check")
    assert bad.returncode == 2
    assert "branch 'wip' is not part of the gitflow model" in bad.stderr
    assert "git branch -m wip feature/wip" in bad.stderr
    assert shipflow(repo, "git.check", "--branch", "research/vlm").returncode == 0
