"""The local host: commands as argv, atomic file writes with their mode, reads."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from shipflow.hosts import HostCommandError, HostError, LocalHost

pytestmark = pytest.mark.unit


def test_run_passes_argv_without_a_shell_and_returns_output() -> None:
    result = LocalHost().run(["printf", "%s", "a b; echo injected"])
    assert result.ok
    assert result.stdout == "a b; echo injected"


def test_binary_stdin_reaches_the_command() -> None:
    payload = bytes(range(256))
    result = LocalHost().run(["wc", "-c"], stdin=payload)
    assert result.stdout.strip() == "256"


def test_a_failing_command_is_a_result_and_check_names_it() -> None:
    result = LocalHost().run(["sh", "-c", "echo boom >&2; exit 3"])
    assert result.exit_code == 3
    with pytest.raises(HostCommandError, match=r"local: `sh -c 'echo boom >&2; exit 3'` exited 3: boom"):
        result.check("local")


def test_a_missing_program_is_a_clear_host_error() -> None:
    with pytest.raises(HostError, match="no-such-program-xyz is not installed"):
        LocalHost().run(["no-such-program-xyz"])


def test_write_file_sets_the_mode_and_replaces_the_content(tmp_path: Path) -> None:
    host = LocalHost()
    target = tmp_path / "deep" / "app.env"
    host.write_file(str(target), b"SECRET_KEY=one\n", mode=0o600)
    host.write_file(str(target), b"SECRET_KEY=two\n", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert host.read_file(str(target)) == b"SECRET_KEY=two\n"
    assert [p.name for p in target.parent.iterdir()] == ["app.env"]


def test_read_file_of_a_missing_path_is_none(tmp_path: Path) -> None:
    assert LocalHost().read_file(str(tmp_path / "absent")) is None
