"""The host interface every engine is written against."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shipflow.errors import Failed

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterable, Sequence


class HostError(Failed):
    """A host could not do what was asked (unreachable, permission denied, ...)."""


@dataclass(frozen=True)
class CommandResult:
    """What a command did on a host."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self, host: str) -> CommandResult:
        """This result, or :class:`HostCommandError` when the command failed."""
        if not self.ok:
            raise HostCommandError(host, self)
        return self


class HostCommandError(HostError):
    """A command exited non-zero; the message names the host, the command and its last error lines."""

    def __init__(self, host: str, result: CommandResult) -> None:
        self.host = host
        self.result = result
        detail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        super().__init__(f"{host}: `{shlex.join(result.argv)}` exited {result.exit_code}: {detail}")


class Host(Protocol):
    """Query, run argv, write a file with a mode, read a file: all a deploy needs from a machine.

    A host that ``rehearses`` (a dry run) reads for real and only describes what it would change; engines
    ask it, never a flag of their own, whether a step's effects are real.
    """

    @property
    def name(self) -> str:
        """How the host is shown to users: ``local`` or ``user@host:port``."""
        ...

    @property
    def rehearses(self) -> bool:
        """True for a dry run: commands that change something are printed, not run."""
        ...

    def query(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandResult:
        """Run a command that only reads (``docker inspect``, ``curl``, ``ps``): a dry run runs it too."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run a command that changes something and return what it did (non-zero is not an exception)."""
        ...

    def run_stream(
        self,
        argv: Sequence[str],
        chunks: Iterable[bytes] | None,
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> CommandResult:
        """Run ``argv`` feeding it ``chunks`` of any total size (an image stream) on stdin; ``on_line`` gets
        each line of its output (progress) as it comes.

        A command that only ends when told (``docker logs --follow``) is given ``stop``: once it is set,
        the command is ended (here: terminated; over SSH: its terminal hung up, so nothing is left running
        on the server) and the result holds what it printed until then, with a negative exit code. A
        caller interrupted while the command runs (Ctrl-C) leaves no command behind either.
        """
        ...

    def run_attached(self, argv: Sequence[str]) -> int:
        """Run ``argv`` attached to this process's terminal, as ``ssh -t`` does: its input is what the user
        types, its output goes straight to the screen (not captured, so not masked); its exit code."""
        ...

    def write_file(self, path: str, content: bytes, *, mode: int = 0o644) -> None:
        """Replace ``path`` atomically with ``content`` at ``mode`` (parents are created)."""
        ...

    def read_file(self, path: str) -> bytes | None:
        """The bytes of ``path``, or None when it does not exist."""
        ...

    def close(self) -> None:
        """Let go of the connection, if the host has one."""
        ...
