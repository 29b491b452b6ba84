"""Fixtures shared by shipflow's own tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ssh_support import Sshd, start_sshd
from support import REPO


@pytest.fixture
def repo_root() -> Path:
    """The root of this repository (the reference project)."""
    return REPO


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real sshd on 127.0.0.1 for one test module (host and user keys generated for it)."""
    server = start_sshd(tmp_path_factory.mktemp("sshd") / "sshd")
    yield server
    server.stop()
