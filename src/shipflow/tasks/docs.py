"""``inv docs.build``, ``docs.serve`` and ``docs.deploy``: the user guide in docs/, built with mkdocs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from shipflow.project import SettingsError, find_project_root, load_project

MKDOCS_CONFIG = "mkdocs.yml"
SITE_DIR = "site"


def _prepare(task_name: str) -> Path:
    """The project root, with its generated reference pages brought up to date."""
    root = find_project_root()
    if not (root / MKDOCS_CONFIG).is_file():
        raise Exit(f"{task_name}: no {MKDOCS_CONFIG} in {root}: create one (see shipflow's own)", code=2)
    # A fresh interpreter: invoke's parser may have consumed the help texts of this process's tasks.
    done = subprocess.run([sys.executable, "-m", "shipflow.docs", str(root)], check=False)
    if done.returncode != 0:
        raise Exit(f"{task_name}: generating the reference pages failed; see the output above", code=1)
    return root


def _mkdocs(task_name: str, root: Path, *args: str) -> None:
    from importlib.util import find_spec

    if find_spec("mkdocs") is None:
        raise Exit(f"{task_name}: mkdocs is not installed: `pip install -e '.[docs]'`", code=2)
    done = subprocess.run([sys.executable, "-m", "mkdocs", *args], cwd=root, check=False)
    if done.returncode != 0:
        raise Exit(f"{task_name}: mkdocs {args[0]} failed (exit {done.returncode}); see its output above", 1)


@task(help={})
def build(c: Context) -> None:
    """Regenerate the task and settings reference pages, then `mkdocs build --strict` into site/.

    Any warning (a broken link, a page missing from the nav) fails the build.
    """
    root = _prepare("docs.build")
    _mkdocs("docs.build", root, "build", "--strict", "--site-dir", SITE_DIR)
    print(f"docs built into {root / SITE_DIR}")


@task(help={"port": "port on 127.0.0.1 to serve on (default 8008; 8000/8001 are deploy slots)"})
def serve(c: Context, port: int = 8008) -> None:
    """Serve the docs on http://127.0.0.1:PORT, rebuilding on every change (Ctrl-C stops)."""
    root = _prepare("docs.serve")
    _mkdocs("docs.serve", root, "serve", "--strict", "--dev-addr", f"127.0.0.1:{port}")


@task(help={})
def deploy(c: Context) -> None:
    """Publish the docs site to GitHub Pages (`mkdocs gh-deploy`), only from the `documentation` branch.

    On documentation/* branches it only builds (a check, like a pull request); on any other branch it
    refuses with exit 2. Pushes the gh-pages branch to the remote of [tool.shipflow.git] (origin).
    """
    from shipflow.release.branches import BUILD_ONLY, DocsBranchError, docs_action, git_settings
    from shipflow.release.git import GitError, current_branch, repo_root

    try:
        project = load_project()
        remote = git_settings(project).remote
        branch = current_branch(repo_root(project.root))
        action = docs_action(branch)
    except (SettingsError, GitError, DocsBranchError) as error:
        raise Exit(f"docs.deploy: {error}", code=2) from None
    root = _prepare("docs.deploy")
    if action == BUILD_ONLY:
        _mkdocs("docs.deploy", root, "build", "--strict", "--site-dir", SITE_DIR)
        print(f"docs built (branch {branch!r} only builds; publishing happens from 'documentation')")
        return
    _mkdocs(
        "docs.deploy",
        root,
        "gh-deploy",
        "--strict",
        "--force",
        "--remote-name",
        remote,
        "--site-dir",
        SITE_DIR,
    )
    print(f"docs published: gh-pages pushed to {remote}")


namespace = Collection("docs")
namespace.add_task(build)
namespace.add_task(serve)
namespace.add_task(deploy)
