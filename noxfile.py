"""Isolated sessions for CI and for checking a change on every supported Python.

`nox` runs lint, typecheck and tests; `nox -s tests -- ARGS` forwards ARGS to pytest. Interpreters and
dependencies come from pyproject.toml. The uv backend is used when uv is installed, virtualenv otherwise.
"""

from __future__ import annotations

import shutil
import subprocess

import nox

PYPROJECT = nox.project.load_toml("pyproject.toml")
SUPPORTED_PYTHONS = nox.project.python_versions(PYPROJECT)
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_venv = "yes"


def _runs(version: str) -> bool:
    """Whether ``pythonX.Y`` is on PATH and starts (a pyenv shim for an inactive version does not)."""
    executable = shutil.which(f"python{version}")
    if executable is None:
        return False
    probe = subprocess.run([executable, "-c", "pass"], capture_output=True, check=False)
    return probe.returncode == 0


FOUND_PYTHONS = [version for version in SUPPORTED_PYTHONS if _runs(version)]


@nox.session(tags=["lint"])
def lint(session: nox.Session) -> None:
    """Every linter of `inv lint` except mypy, which has its own session."""
    session.install("-e", ".[dev]")
    session.run("inv", "lint", "--skip", "mypy")


@nox.session(tags=["lint"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the paths [tool.shipflow.lint] names (src, tests, tasks.py, noxfile.py)."""
    session.install("-e", ".[dev]")
    session.run("inv", "lint", "--only", "mypy")


@nox.session(python=FOUND_PYTHONS or None, tags=["tests"])
def tests(session: nox.Session) -> None:
    """`inv test` on every supported Python found on this machine; `-- ARGS` go to pytest.

    The same command as on a laptop: envs/.env.test loaded, groups from tests_config.yaml.
    """
    session.install("-e", ".[dev]")
    session.run("inv", "test", "--", *session.posargs)


@nox.session(tags=["docs"])
def docs(session: nox.Session) -> None:
    """The user guide: regenerate the reference pages, then `mkdocs build --strict` into site/."""
    session.install("-e", ".[dev]")
    session.run("inv", "docs.build")
