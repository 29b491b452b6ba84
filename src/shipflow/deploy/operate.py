"""Operating a live release: its containers' logs from every host merged by time, and one-off commands in a
throw-away container of the release (``deploy.logs``, ``deploy.exec``). Every line printed is masked."""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.deploy import audit, commands
from shipflow.deploy.settings import SLOT_NAMES
from shipflow.deploy.state import read_state
from shipflow.errors import BadInput, Failed, Refused

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from shipflow.deploy.context import Deployment
    from shipflow.deploy.session import Session
    from shipflow.deploy.state import SlotState

SLOT_CHOICES = ("live", *SLOT_NAMES, "both")
STREAM_END_SECONDS = 15.0  # how long a stopped stream may take to end (a local SIGTERM, an SSH channel close)
_SINCE = re.compile(r"^(\d+(\.\d+)?[smh])+$|^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$|^\d+$")
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?\s?(.*)$")


@dataclass(frozen=True)
class LogRequest:
    slot: str = "live"
    since: str | None = None
    tail: int | None = 100
    follow: bool = False


@dataclass(frozen=True)
class LogLine:
    """One line of a container's log: its sort key (the docker timestamp, nanoseconds padded), where from."""

    key: str
    clock: str  # HH:MM:SS.mmm, shown
    host: str
    slot: str
    text: str


def checked_request(slot: str, since: str | None, tail: int | None, follow: bool) -> LogRequest:
    """The request, or :class:`BadInput` naming the flag and what it takes."""
    if slot not in SLOT_CHOICES:
        raise BadInput(f"--slot {slot!r} is not one of {', '.join(SLOT_CHOICES)}")
    if since is not None and not _SINCE.match(since.strip()):
        raise BadInput(
            f"--since {since!r} is not a duration (10m, 1h30m, 45s) or a date (2026-12-01T10:00:00)"
        )
    return LogRequest(slot, since.strip() if since else None, tail, follow)


def choose(deployments: Sequence[Deployment], host: str | None, *, every: bool = True) -> list[Deployment]:
    """The deployments ``--host`` names (all, or the first when not ``every``); unknown: :class:`BadInput`."""
    if host is None:
        return list(deployments) if every else list(deployments[:1])
    chosen = [d for d in deployments if host in (d.target.host, d.host.name)]
    if not chosen:
        known = ", ".join(d.target.host for d in deployments)
        raise BadInput(f"--host {host!r} is not a host of this environment ({known})")
    return chosen


def parse_line(raw: str, host: str, slot: str) -> LogLine:
    """A ``docker logs --timestamps`` line; one without a timestamp sorts first and shows none."""
    match = _STAMP.match(raw)
    if not match:
        return LogLine("", "", host, slot, raw)
    day, clock, fraction, _zone, text = match.groups()
    nanos = (fraction or "").ljust(9, "0")[:9]
    return LogLine(f"{day}T{clock}.{nanos}", f"{clock}.{nanos[:3]}", host, slot, text)


def formatted(line: LogLine, *, show_slot: bool) -> str:
    where = f"{line.host}/{line.slot}" if show_slot else line.host
    return f"{where} {line.clock} | {line.text}" if line.clock else f"{where} | {line.text}"


def _slots(d: Deployment, wanted: str) -> list[SlotState]:
    state = read_state(d.host, d.settings, d.target)
    if wanted == "live":
        if state.active_state is None:
            raise Refused(f"{d.host.name}: nothing is deployed yet (no live slot); try --slot blue or green")
        return [state.active_state]
    chosen = [s for s in state.slots if wanted in ("both", s.slot.name)]
    return [s for s in chosen if s.exists]


def _argv(state: SlotState, request: LogRequest) -> list[str]:
    return commands.logs_with_timestamps(
        state.container, since=request.since, tail=request.tail, follow=request.follow
    )


def gather(deployments: Sequence[Deployment], request: LogRequest) -> list[LogLine]:
    """Every chosen container's lines on every host, merged by time (a stable sort: a container's own
    order is kept for equal timestamps)."""
    lines: list[LogLine] = []
    for d in deployments:
        for state in _slots(d, request.slot):
            done = d.host.query(_argv(state, request))
            if not done.ok:
                raise Failed(f"{d.host.name}: `docker logs {state.container}` exited {done.exit_code}")
            lines += [parse_line(raw, d.host.name, state.slot.name) for raw in done.stdout.splitlines()]
    return sorted(lines, key=lambda line: line.key)


def follow(deployments: Sequence[Deployment], request: LogRequest, show: Callable[[LogLine], None]) -> None:
    """Stream the chosen containers' lines as they come, one thread per container, until they all end or
    Ctrl-C: a KeyboardInterrupt (SIGINT) ends every stream on every host, then propagates to the caller.
    A stream that fails (its container is gone) is :class:`Failed` once the others ended."""
    streams = [(d, state) for d in deployments for state in _slots(d, request.slot)]
    if not streams:
        return
    printing = threading.Lock()
    stop = threading.Event()
    failures: list[str] = []

    def stream(d: Deployment, state: SlotState) -> None:
        def on_line(raw: str) -> None:
            with printing:
                show(parse_line(raw, d.host.name, state.slot.name))

        try:
            done = d.host.run_stream(_argv(state, request), None, on_line=on_line, stop=stop)
        except Failed as error:
            failures.append(str(error))
            return
        if not done.ok and not stop.is_set():
            failures.append(f"{d.host.name}: `docker logs {state.container}` exited {done.exit_code}")

    # Each stream says itself when it ended: a Thread.join interrupted by Ctrl-C can take a thread that
    # still runs for ended (CPython 3.11), and the process would exit with its command still running.
    ended = [threading.Event() for _ in streams]
    threads = [
        threading.Thread(target=_until_done, args=(stream, pair, event), daemon=True)
        for pair, event in zip(streams, ended, strict=True)
    ]
    started = 0
    try:
        for thread in threads:
            started += 1  # first: Ctrl-C inside start() comes once the thread runs; it must be waited for
            thread.start()
        for event in ended:
            while not event.wait(0.2):  # short waits: Ctrl-C reaches the main thread
                pass
    finally:
        stop.set()  # also on Ctrl-C: every stream ends, nothing is left running here or on a server
        for event in ended[:started]:
            event.wait(STREAM_END_SECONDS)
    if failures:
        raise Failed("; ".join(failures))


def _until_done(
    work: Callable[[Deployment, SlotState], None], args: tuple[Deployment, SlotState], done: threading.Event
) -> None:
    try:
        work(*args)
    finally:
        done.set()


# --- deploy.exec --------------------------------------------------------------------------------------


def _dotenv_values(text: str) -> dict[str, str]:
    import io

    from dotenv import dotenv_values

    return {key: value or "" for key, value in dotenv_values(stream=io.StringIO(text)).items()}


def run_one_off(
    d: Deployment, command: tuple[str, ...], show: Callable[[str], None], *, terminal: bool = False
) -> int:
    """``command`` in a ``docker run --rm`` of the live release with its env file; returns its exit code.
    Recorded in the audit log (the command masked, never the env).

    With ``terminal`` (shipflow runs on one), the command gets a terminal (``docker run -it``) attached to
    this one: what is typed goes to it and its output straight to the screen, unmasked: the user asked for
    an interactive session in the release. Otherwise its output goes to ``show`` line by line (its error
    output after it ends), where every line is masked."""
    from shipflow.deploy.bluegreen import write_env_file

    if not command:
        raise BadInput("no command given: put it after `--`, e.g. inv deploy.exec --env local -- ls /data")
    state = read_state(d.host, d.settings, d.target)
    live = state.active_state
    release = live.release if live else None
    if live is None or release is None:
        raise Refused(f"{d.host.name}: no live release to run a command in (nothing deployed yet)")
    env_text = d.host.read_file(commands.env_file_path(d.target, live.slot))
    if env_text is None:
        raise Failed(f"{d.host.name}: the live release's env file is missing; deploy again")
    exports = commands.exec_env_path(d.target, uuid.uuid4().hex[:12])
    content = commands.exports_text(_dotenv_values(env_text.decode("utf-8", "replace")))
    code = 1
    try:
        write_env_file(d, exports, release, content)
        argv = commands.exec_one_off(
            d.settings, d.target, live.slot, release, exports, command, interactive=terminal
        )
        code = d.host.run_attached(argv) if terminal else _streamed(d, argv, show)
    finally:
        d.host.run(commands.remove_file(exports))
        if not d.host.rehearses:
            record = audit.new_record(
                "exec", "ok" if code == 0 else "failed", d.actor, d.target.environment,
                to_sha=release.sha, version=release.version, slot=live.slot.name,
                detail=d.reporter.mask(shlex_join(command)), extra=exec_extra(code, terminal=terminal),
            )  # fmt: skip
            audit.append(d.host, commands.audit_log_path(d.target), record)
    return code


def _streamed(d: Deployment, argv: Sequence[str], show: Callable[[str], None]) -> int:
    done = d.host.run_stream(argv, None, on_line=show)
    for line in done.stderr.splitlines():
        show(line)
    return done.exit_code


def exec_extra(code: int, *, terminal: bool) -> dict[str, object]:
    """The audit record's ``extra`` of a one-off: its exit code, and whether it ran on a terminal (its
    output then went to the user's screen only)."""
    return {"exit_code": code, "terminal": True} if terminal else {"exit_code": code}


def shlex_join(words: Sequence[str]) -> str:
    import shlex

    return shlex.join(words)


# --- what the tasks call ------------------------------------------------------------------------------


def show_logs(session: Session, deployments: Sequence[Deployment], request: LogRequest) -> None:
    """Print the merged lines (or, with ``follow``, the streams until they end or Ctrl-C: exit 0)."""
    show_slot = request.slot == "both"

    def show(line: LogLine) -> None:
        session.line(formatted(line, show_slot=show_slot))

    if not request.follow:
        for line in gather(deployments, request):
            show(line)
        return
    try:
        follow(deployments, request, show)
    except KeyboardInterrupt:
        return


def wants_terminal(stdin_is_terminal: bool, stdout_is_terminal: bool) -> bool:
    """Whether ``deploy.exec`` attaches the command to shipflow's terminal: only when both its input and
    its output are one (a user at a terminal); in CI, or with either redirected, plain masked streams."""
    return stdin_is_terminal and stdout_is_terminal


def exec_on(
    session: Session, deployments: Sequence[Deployment], command: tuple[str, ...], *, terminal: bool = False
) -> int:
    """The command on each chosen host in turn (attached to this ``terminal``, or streamed and masked);
    the first non-zero exit code stops there and is returned."""
    several = len(deployments) > 1
    for d in deployments:
        prefix = f"{d.host.name} | " if several and not terminal else ""
        if several and terminal:
            session.line(f"== {d.host.name}")

        def show(text: str, prefix: str = prefix) -> None:
            session.line(prefix + text)

        code = run_one_off(d, command, show, terminal=terminal)
        if code:
            return code
    return 0
