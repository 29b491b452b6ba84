"""Helpers shared by shipflow's own tests: running the CLI as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_shipflow(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``shipflow`` CLI as a user would, from this interpreter, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "shipflow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
