"""Fixtures shared by shipflow's own tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from ssh_support import Sshd, start_sshd
from support import REPO, Ran, ShipflowCli, docker, run_shipflow_in_process


@pytest.fixture
def repo_root() -> Path:
    """The root of this repository (the reference project)."""
    return REPO


@pytest.fixture
def shipflow_cli(capfd: pytest.CaptureFixture[str]) -> ShipflowCli:
    """The ``shipflow`` CLI run in this process as a user would run it: its exit code and output."""

    def run(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> Ran:
        return run_shipflow_in_process(capfd, *args, cwd=cwd, env=env)

    return run


@pytest.fixture
def containers() -> Iterator[list[str]]:
    """Names of docker containers a test starts; removed afterwards, even when the test fails."""
    names: list[str] = []
    yield names
    for name in names:
        docker("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real sshd on 127.0.0.1 for one test module (host and user keys generated for it)."""
    server = start_sshd(tmp_path_factory.mktemp("sshd") / "sshd")
    yield server
    server.stop()
