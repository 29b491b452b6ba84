"""`inv --list` and the `shipflow` console script start as fast as a bare invoke: listing the tasks
imports no heavy library, which only a fresh interpreter can show."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.cli

HEAVY_MODULES = ("docker", "fabric", "paramiko", "alembic", "sqlalchemy", "yaml", "dotenv")


def heavy_modules_loaded_by(statement: str) -> set[str]:
    probe = f"import sys; {statement}; print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(filter(None, done.stdout.strip().split(",")))


def test_listing_tasks_imports_no_heavy_library_beyond_invokes_own() -> None:
    assert heavy_modules_loaded_by("import shipflow.tasks") == heavy_modules_loaded_by("import invoke")
