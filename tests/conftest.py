"""Fixtures shared by shipflow's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import REPO


@pytest.fixture
def repo_root() -> Path:
    """The root of this repository (the reference project)."""
    return REPO
