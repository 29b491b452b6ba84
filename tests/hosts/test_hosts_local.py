"""The local host: commands as argv, streams that end when told or interrupted, commands attached to the
terminal, atomic file writes with their mode, reads."""

from __future__ import annotations

import io
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipflow.hosts import DryRunHost, HostCommandError, HostError, LocalHost
from shipflow.report import Reporter

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


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, already ended, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_stream_given_stop_is_ended_when_stop_is_set_and_keeps_what_it_printed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    stop = threading.Event()
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        stop.set()  # the caller has what it wanted: end the endless command

    script = f"echo $$ > {pid_file}; echo first; exec sleep 600"
    done = LocalHost().run_stream(["sh", "-c", script], None, on_line=on_line, stop=stop)

    assert seen == ["first"] and done.stdout == "first\n"
    assert done.exit_code < 0  # ended by a signal
    assert not _alive(int(pid_file.read_text()))


def test_an_interrupted_stream_leaves_no_command_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    def chunks() -> Iterator[bytes]:
        while not pid_file.exists() or not pid_file.read_text().strip():
            yield b""  # the command runs: wait until it wrote its pid
            time.sleep(0.01)
        raise KeyboardInterrupt  # Ctrl-C while the command runs

    with pytest.raises(KeyboardInterrupt):
        LocalHost().run_stream(["sh", "-c", f"echo $$ > {pid_file}; exec sleep 600"], chunks())

    assert not _alive(int(pid_file.read_text()))


def test_an_attached_command_inherits_this_process_streams_and_its_exit_code_comes_back(
    capfd: pytest.CaptureFixture[str],
) -> None:
    code = LocalHost().run_attached(["sh", "-c", "echo on the screen; echo and its errors >&2; exit 7"])
    assert code == 7
    assert capfd.readouterr() == ("on the screen\n", "and its errors\n")
    with pytest.raises(HostError, match="no-such-program-xyz is not installed"):
        LocalHost().run_attached(["no-such-program-xyz"])


def test_a_dry_run_only_says_it_would_attach_the_command_to_the_terminal() -> None:
    out = io.StringIO()
    host = DryRunHost(LocalHost(), Reporter(stream=out))
    assert host.run_attached(["docker", "run", "--rm", "-it", "demo:v1", "sh"]) == 0
    assert (
        out.getvalue() == "  would run on local, attached to this terminal: docker run --rm -it demo:v1 sh\n"
    )
