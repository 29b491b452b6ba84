"""The docs site built for real: a strict build of this repository, and `inv docs.deploy` publishing only
from the `documentation` branch (to a local bare repository; no network), each run as a user would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support import git, git_environ, make_repository, run_shipflow

pytestmark = pytest.mark.cli


def test_docs_build_on_this_repository_passes_strict(repo_root: Path) -> None:
    done = run_shipflow("docs.build", cwd=repo_root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo_root / "site" / "index.html").is_file()
    assert (repo_root / "site" / "reference" / "tasks" / "index.html").is_file()


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
    make_repository(project, "docs")
    git(project, "remote", "add", "origin", str(remote))
    return project, remote


def remote_branches(remote: Path) -> list[str]:
    return git(remote, "branch", "--format=%(refname:short)").split()


def deploy(project: Path) -> subprocess.CompletedProcess[str]:
    return run_shipflow("docs.deploy", cwd=project, env=git_environ())


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
