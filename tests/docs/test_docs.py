"""The docs site: generated reference pages up to date, a strict build of this repo, and `inv docs.deploy`
publishing only from the `documentation` branch (to a local bare repository; no network)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support import run_shipflow

from shipflow.docs.reference import reference_pages
from shipflow.release.branches import BUILD_ONLY, DEPLOY, DocsBranchError, docs_action
from shipflow.tasks import namespace

pytestmark = pytest.mark.unit

IDENTITY = {
    "GIT_AUTHOR_NAME": "Docs",
    "GIT_AUTHOR_EMAIL": "docs@example.invalid",
    "GIT_COMMITTER_NAME": "Docs",
    "GIT_COMMITTER_EMAIL": "docs@example.invalid",
}


def test_committed_reference_pages_match_the_code(repo_root: Path) -> None:
    for relative, text in reference_pages(namespace).items():
        committed = repo_root / relative
        assert committed.is_file() and committed.read_text(encoding="utf-8") == text, (
            f"{relative} is out of date with the code: run `inv docs.build` and commit it"
        )


def test_the_task_reference_documents_every_task_and_flag() -> None:
    page = reference_pages(namespace)[Path("docs/reference/tasks.md")]
    for name in ("lint", "release", "ci.generate", "docs.deploy", "git.check", "env.check"):
        assert f"## `inv {name}`" in page
    assert "| `--version`, `-v` |  | the version to release, X.Y.Z" in page
    assert "| `--fix`, `-f` | off |" in page


def test_the_settings_reference_shows_defaults_from_the_code() -> None:
    page = reference_pages(namespace)[Path("docs/reference/settings.md")]
    assert '| `model` | string | `"gitflow"` |' in page
    assert "| `secret_key_min_length` | integer | `32` |" in page
    assert "| `image` | string | **required** |" in page


@pytest.mark.parametrize(
    ("branch", "action"), [("documentation", DEPLOY), ("documentation/runbook", BUILD_ONLY)]
)
def test_docs_actions_per_branch(branch: str, action: str) -> None:
    assert docs_action(branch) == action


@pytest.mark.parametrize("branch", ["main", "documentations", "feature/docs", None])
def test_other_branches_may_not_publish(branch: str | None) -> None:
    with pytest.raises(DocsBranchError, match="published only from the 'documentation' branch"):
        docs_action(branch)


def test_docs_build_on_this_repository_passes_strict(repo_root: Path) -> None:
    done = run_shipflow("docs.build", cwd=repo_root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo_root / "site" / "index.html").is_file()
    assert (repo_root / "site" / "reference" / "tasks" / "index.html").is_file()


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **IDENTITY},
    )
    return done.stdout.strip()


@pytest.fixture
def docs_project(tmp_path: Path) -> tuple[Path, Path]:
    """A small mkdocs project in git, with a local bare repository as its origin."""
    remote = tmp_path / "origin.git"
    project = tmp_path / "project"
    project.mkdir()
    git(tmp_path, "init", "-q", "--bare", str(remote))
    (project / "mkdocs.yml").write_text("site_name: demo\nnav:\n  - Home: index.md\n")
    (project / "docs").mkdir()
    (project / "docs" / "index.md").write_text("# Demo\n\nHello.\n")
    (project / ".gitignore").write_text("site/\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "docs")
    git(project, "remote", "add", "origin", str(remote))
    return project, remote


def remote_branches(remote: Path) -> list[str]:
    return git(remote, "branch", "--format=%(refname:short)").split()


def deploy(project: Path) -> subprocess.CompletedProcess[str]:
    return run_shipflow("docs.deploy", cwd=project, env={**os.environ, **IDENTITY})


@pytest.mark.needs("git")
def test_docs_deploy_refuses_outside_the_documentation_branches(docs_project: tuple[Path, Path]) -> None:
    project, remote = docs_project
    done = deploy(project)
    assert done.returncode == 2
    assert "this is branch 'main'" in done.stderr and "Traceback" not in done.stderr
    assert remote_branches(remote) == []


@pytest.mark.needs("git")
def test_docs_deploy_only_builds_on_a_documentation_work_branch(docs_project: tuple[Path, Path]) -> None:
    project, remote = docs_project
    git(project, "switch", "-q", "-c", "documentation/intro")
    done = deploy(project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "only builds" in done.stdout
    assert (project / "site" / "index.html").is_file()
    assert remote_branches(remote) == []


@pytest.mark.needs("git")
def test_docs_deploy_publishes_gh_pages_from_documentation(docs_project: tuple[Path, Path]) -> None:
    project, remote = docs_project
    git(project, "switch", "-q", "-c", "documentation")
    done = deploy(project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert remote_branches(remote) == ["gh-pages"]
    published = git(remote, "ls-tree", "-r", "--name-only", "gh-pages").split()
    assert "index.html" in published
    assert "Hello." in git(remote, "show", "gh-pages:index.html")
