"""Helpers shared by shipflow's own tests: running the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


SELECTORS = ("APP_ENV", "ENV", "TEST_GROUPS", "PYTEST_ADDOPTS")


def user_environ(**extra: str) -> dict[str, str]:
    """The environment a user's shell would have: this process's, without what `inv test` loaded from this
    repository's env files (they would override the settings of the project under test) or selectors."""
    from shipflow.env.files import env_file_values

    loaded = env_file_values(REPO, "test")
    kept = {k: v for k, v in os.environ.items() if k not in SELECTORS and loaded.get(k) != v}
    return {**kept, **extra}


def run_shipflow(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``shipflow`` CLI as a user would (by default in :func:`user_environ`), capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "shipflow", *args],
        cwd=cwd,
        env=user_environ() if env is None else env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
