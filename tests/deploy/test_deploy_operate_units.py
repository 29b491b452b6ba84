"""deploy.logs and deploy.exec against the scripted server: the argv built, lines merged by time, prefixed
and masked, the one-off's env exports, exit code and audit record."""

from __future__ import annotations

import _thread
import io
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest
from scripted_host import RELEASES, ScriptedHost, deployment, make_host

from shipflow.deploy import audit, bluegreen, commands, operate
from shipflow.deploy.context import Deployment
from shipflow.errors import BadInput, Failed, Refused
from shipflow.hosts.base import CommandResult
from shipflow.report import Reporter
from shipflow.tasks.badflags import remainder_words, words_after_dashes

pytestmark = pytest.mark.unit


class FakeSession:
    """What the operate functions use of a session: one masked line printer."""

    def __init__(self, mask: object = None) -> None:
        self.reporter = Reporter(mask=lambda text: text.replace("canary", "******"), stream=io.StringIO())

    def line(self, text: str) -> None:
        self.reporter.line(text)

    @property
    def printed(self) -> list[str]:
        stream = self.reporter.stream
        assert isinstance(stream, io.StringIO)
        return stream.getvalue().splitlines()


@pytest.fixture
def host(tmp_path: Path) -> ScriptedHost:
    made = make_host(tmp_path)
    bluegreen.deploy(deployment(made), RELEASES["v1"])
    bluegreen.deploy(deployment(made), RELEASES["v2"])  # green serves v2, blue keeps v1 stopped
    return made


def test_the_logs_command_is_docker_logs_with_timestamps_and_stderr_merged() -> None:
    argv = commands.logs_with_timestamps("demo-local-green", since="10m", tail=50, follow=True)
    assert argv == [
        "sh", "-c", 'exec "$@" 2>&1', "logs",
        "docker", "logs", "--timestamps", "--since", "10m", "--tail", "50", "--follow", "demo-local-green",
    ]  # fmt: skip
    assert commands.logs_with_timestamps("c") == ["sh", "-c", 'exec "$@" 2>&1', "logs", "docker", "logs",
                                                  "--timestamps", "c"]  # fmt: skip


def test_live_logs_of_two_hosts_are_merged_by_time_prefixed_and_masked(
    host: ScriptedHost, tmp_path: Path
) -> None:
    other = make_host(tmp_path)
    bluegreen.deploy(deployment(other), RELEASES["v1"])  # blue serves here
    host.logs["demo-local-green"] = [
        "2026-12-01T10:00:00.5Z second line",
        "2026-12-01T10:00:02.000000001Z fourth, SECRET=canary",
    ]
    other.logs["demo-local-blue"] = ["2026-12-01T10:00:00.100Z first", "2026-12-01T10:00:01Z third"]
    first = deployment(host)
    second = deployment(other)
    object.__setattr__(second.host, "target", other.target)
    session = FakeSession()

    lines = operate.gather([first, second], operate.checked_request("live", None, 100, False))
    for line in lines:
        session.line(operate.formatted(line, show_slot=False))

    assert [line.text for line in lines] == ["first", "second line", "third", "fourth, SECRET=canary"]
    assert session.printed[0] == "scripted 10:00:00.100 | first"
    assert session.printed[3] == "scripted 10:00:02.000 | fourth, SECRET=******"
    assert ("sh", "-c", 'exec "$@" 2>&1', "logs", "docker", "logs", "--timestamps", "--tail", "100",
            "demo-local-green") in host.ran  # fmt: skip


def test_both_slots_name_their_slot_and_a_line_without_a_timestamp_is_kept(host: ScriptedHost) -> None:
    host.logs["demo-local-blue"] = ["2026-12-01T09:00:00Z old release"]
    host.logs["demo-local-green"] = ["no timestamp here"]
    lines = operate.gather([deployment(host)], operate.checked_request("both", "1h30m", None, False))
    shown = [operate.formatted(line, show_slot=True) for line in lines]
    assert shown == ["scripted/green | no timestamp here", "scripted/blue 09:00:00.000 | old release"]


@pytest.mark.parametrize(
    ("slot", "since", "message"),
    [("purple", None, "--slot 'purple' is not one of live, blue, green, both"),
     ("live", "yesterday", "--since 'yesterday' is not a duration"),
     ("live", "10 m", "--since '10 m' is not a duration")],
)  # fmt: skip
def test_a_bad_slot_or_since_is_bad_input(slot: str, since: str | None, message: str) -> None:
    with pytest.raises(BadInput, match=message.replace("(", r"\(")):
        operate.checked_request(slot, since, 100, False)


def test_an_unknown_host_is_bad_input_and_no_live_slot_is_refused(tmp_path: Path) -> None:
    d = deployment(make_host(tmp_path))
    with pytest.raises(BadInput, match="--host 'web9' is not a host of this environment"):
        operate.choose([d], "web9")
    with pytest.raises(Refused, match="nothing is deployed yet"):
        operate.gather([d], operate.LogRequest())


def test_follow_streams_each_line_through_run_stream(host: ScriptedHost) -> None:
    host.logs["demo-local-green"] = ["2026-12-01T10:00:00Z a", "2026-12-01T10:00:01Z b"]
    seen: list[str] = []
    operate.follow([deployment(host)], operate.LogRequest(follow=True), lambda line: seen.append(line.text))
    assert seen == ["a", "b"]
    assert host.ran[-1][-2:] == ("--follow", "demo-local-green")


PRESSING = threading.Lock()


@dataclass
class EndlessLogs(ScriptedHost):
    """A server whose ``docker logs --follow`` prints its lines, then runs until it is told to stop; once
    two streams run, Ctrl-C is pressed (SIGINT reaches the main thread)."""

    stopped: list[str] = field(default_factory=list)
    streams: int = 0

    def run_stream(
        self,
        argv: Sequence[str],
        chunks: Iterable[bytes] | None,
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> CommandResult:
        done = super().run_stream(argv, chunks, on_line=on_line)
        assert stop is not None, "a follow stream must be stoppable"
        with PRESSING:
            self.streams += 1
            if self.streams == 2:  # both streams run: Ctrl-C
                _thread.interrupt_main()
        if stop.wait(10):
            self.stopped.append(argv[-1])
        return CommandResult(done.argv, -15, done.stdout, "")


def test_ctrl_c_during_follow_ends_every_stream_before_it_propagates(tmp_path: Path) -> None:
    endless = EndlessLogs(**{f.name: getattr(make_host(tmp_path), f.name) for f in fields(ScriptedHost)})
    bluegreen.deploy(deployment(endless), RELEASES["v1"])
    bluegreen.deploy(deployment(endless), RELEASES["v2"])
    endless.logs["demo-local-blue"] = ["2026-12-01T09:00:00Z old"]
    endless.logs["demo-local-green"] = ["2026-12-01T10:00:00Z new"]
    seen: list[str] = []

    with pytest.raises(KeyboardInterrupt):
        operate.follow(
            [deployment(endless)],
            operate.LogRequest(slot="both", follow=True),
            lambda line: seen.append(line.text),
        )

    assert sorted(endless.stopped) == ["demo-local-blue", "demo-local-green"]  # nothing left running
    assert sorted(seen) == ["new", "old"]


def test_a_follow_stream_that_fails_is_a_failure_naming_its_host_and_container(host: ScriptedHost) -> None:
    host.fail[("sh", "-c", 'exec "$@" 2>&1', "logs", "docker", "logs")] = CommandResult((), 1, "", "gone")
    with pytest.raises(Failed, match="scripted: `docker logs demo-local-green` exited 1"):
        operate.follow([deployment(host)], operate.LogRequest(follow=True), lambda line: None)


@pytest.mark.parametrize(
    ("stdin", "stdout", "attached"),
    [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
)
def test_exec_attaches_to_the_terminal_only_when_input_and_output_are_one(
    stdin: bool, stdout: bool, attached: bool
) -> None:
    assert operate.wants_terminal(stdin, stdout) is attached


def _exec(host: ScriptedHost, command: tuple[str, ...]) -> tuple[int, list[str], Deployment]:
    d = deployment(host)
    object.__setattr__(d.reporter, "mask", lambda text: text.replace("canary", "******"))
    shown: list[str] = []
    return operate.run_one_off(d, command, shown.append), shown, d


def test_exec_runs_a_one_off_of_the_live_release_with_its_env_exported_and_records_it(
    host: ScriptedHost,
) -> None:
    host.files[commands.env_file_path(host.target, commands.slots_of(host.target)[1])] = (
        b'ENV="local"\nSECRET_KEY="canary $(rm -rf /) \'q\'"\n'
    )
    written: dict[str, bytes] = {}
    original = host.write_file

    def keep(path: str, content: bytes, *, mode: int = 0o644) -> None:
        written[path] = content
        assert mode == 0o600
        original(path, content, mode=mode)

    host.write_file = keep  # type: ignore[method-assign]
    host.one_off_result = CommandResult((), 3, "local\n", "boom\n")

    code, shown, _ = _exec(host, ("python3", "-c", "print('canary')"))

    assert code == 3 and shown == ["local", "boom"]
    run = next(argv for argv in host.ran if argv[:3] == ("docker", "run", "--rm"))
    assert run[-4:] == ("shipflow-exec", "python3", "-c", "print('canary')")
    assert "demo:v2" in run and "-it" not in run
    ((path, exports),) = written.items()
    assert exports == b"export ENV=local\nexport SECRET_KEY='canary $(rm -rf /) '\"'\"'q'\"'\"''\n"
    assert path not in host.files  # removed afterwards
    record = audit.read(host, commands.audit_log_path(host.target))[-1]
    assert (record.action, record.result, record.extra, record.version) == (
        "exec",
        "failed",
        {"exit_code": 3},
        "v2",
    )
    assert "canary" not in record.to_json()


def test_exec_on_a_terminal_runs_docker_run_it_attached_passes_the_code_on_and_records_it(
    host: ScriptedHost,
) -> None:
    host.one_off_result = CommandResult((), 4, "not captured", "")
    d = deployment(host)
    shown: list[str] = []

    code = operate.run_one_off(d, ("sh",), shown.append, terminal=True)

    assert code == 4 and shown == []  # the output went to the terminal, not through shipflow
    ((run),) = host.attached
    assert run[:4] == ("docker", "run", "--rm", "-it") and run[-2:] == ("shipflow-exec", "sh")
    assert not any(argv[:3] == ("docker", "run", "--rm") for argv in host.ran if argv not in host.attached)
    record = audit.read(host, commands.audit_log_path(host.target))[-1]
    assert (record.action, record.result, record.extra) == (
        "exec",
        "failed",
        {"exit_code": 4, "terminal": True},
    )


def test_exec_on_a_terminal_over_several_hosts_names_each_before_attaching(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = make_host(tmp_path / "a"), make_host(tmp_path / "b")
    for made in (first, second):
        bluegreen.deploy(deployment(made), RELEASES["v1"])
        made.one_off_result = CommandResult((), 0, "", "")
    session = FakeSession()

    code = operate.exec_on(session, [deployment(first), deployment(second)], ("true",), terminal=True)  # type: ignore[arg-type]

    assert code == 0 and session.printed == ["== scripted", "== scripted"]
    assert len(first.attached) == len(second.attached) == 1


def test_exec_without_a_command_or_a_live_release_runs_nothing(tmp_path: Path) -> None:
    empty = make_host(tmp_path)
    with pytest.raises(Refused, match="no live release"):
        _exec(empty, ("true",))
    with pytest.raises(BadInput, match="no command given"):
        _exec(empty, ())
    assert not any(argv[:3] == ("docker", "run", "--rm") for argv in empty.ran)


def test_the_words_after_dashes_are_kept_word_for_word() -> None:
    argv = ["inv", "deploy.exec", "--env", "local", "--", "python3", "-c", "import os; print(1)", "--"]
    assert words_after_dashes(argv) == ["python3", "-c", "import os; print(1)", "--"]
    assert words_after_dashes(["inv", "deploy.exec"]) == []
    assert remainder_words({"shipflow_remainder": ["a b", "c"]}) == ["a b", "c"]


def test_the_program_hands_the_remainder_to_the_task_through_its_config() -> None:
    from invoke.collection import Collection
    from invoke.tasks import task

    from shipflow.tasks.badflags import RefusesBadFlags

    seen: list[list[str]] = []

    @task
    def probe(c):  # type: ignore[no-untyped-def]
        seen.append(remainder_words(c.config))

    program = RefusesBadFlags(namespace=Collection(probe), name="t", binary="t", binary_names=["t"])
    program.run(["t", "probe", "--", "python3", "-c", "import os, sys; sys.exit(3)"], exit=False)
    assert seen == [["python3", "-c", "import os, sys; sys.exit(3)"]]
