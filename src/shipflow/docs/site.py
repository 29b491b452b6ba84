"""The docs site: its reference pages brought up to date, then mkdocs building, serving or publishing it.

mkdocs runs in its own interpreter (``python -m mkdocs``) with its output going straight to the terminal.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from shipflow.errors import BadInput, Failed

if TYPE_CHECKING:
    from shipflow.project import Project

MKDOCS_CONFIG = "mkdocs.yml"
SITE_DIR = "site"


class DocsSetupError(BadInput):
    """The project has no mkdocs.yml, or mkdocs is not installed."""


class DocsBuildFailed(Failed):
    """Generating the reference pages or running mkdocs failed; their output says why."""


def prepare(root: Path) -> None:
    """Bring the project's generated reference pages up to date."""
    if not (root / MKDOCS_CONFIG).is_file():
        raise DocsSetupError(f"no {MKDOCS_CONFIG} in {root}: create one (see shipflow's own)")
    # A fresh interpreter: invoke's parser may have consumed the help texts of this process's tasks.
    done = subprocess.run([sys.executable, "-m", "shipflow.docs", str(root)], check=False)
    if done.returncode != 0:
        raise DocsBuildFailed("generating the reference pages failed; see the output above")


def mkdocs(root: Path, *args: str) -> None:
    """Run ``mkdocs ARGS`` in ``root``."""
    from importlib.util import find_spec

    if find_spec("mkdocs") is None:
        raise DocsSetupError("mkdocs is not installed: `pip install -e '.[docs]'`")
    done = subprocess.run([sys.executable, "-m", "mkdocs", *args], cwd=root, check=False)
    if done.returncode != 0:
        raise DocsBuildFailed(f"mkdocs {args[0]} failed (exit {done.returncode}); see its output above")


def build_site(root: Path) -> str:
    """Regenerate the reference pages and ``mkdocs build --strict`` into site/; the line saying where."""
    prepare(root)
    mkdocs(root, "build", "--strict", "--site-dir", SITE_DIR)
    return f"docs built into {root / SITE_DIR}"


def serve_site(root: Path, port: int) -> None:
    """Regenerate the reference pages and serve the site on 127.0.0.1:``port`` until Ctrl-C."""
    prepare(root)
    mkdocs(root, "serve", "--strict", "--dev-addr", f"127.0.0.1:{port}")


def publish_site(project: Project) -> str:
    """Publish the site to GitHub Pages from the ``documentation`` branch, only build it on
    ``documentation/*``, refuse elsewhere (``DocsBranchError``); the line saying what was done."""
    from shipflow.release.branches import BUILD_ONLY, docs_action, git_settings
    from shipflow.release.git import current_branch, repo_root

    remote = git_settings(project).remote
    branch = current_branch(repo_root(project.root))
    action = docs_action(branch)
    if action == BUILD_ONLY:
        build_site(project.root)
        return f"docs built (branch {branch!r} only builds; publishing happens from 'documentation')"
    prepare(project.root)
    mkdocs(project.root, "gh-deploy", "--strict", "--force", "--remote-name", remote, "--site-dir", SITE_DIR)
    return f"docs published: gh-pages pushed to {remote}"
