"""A host that reads for real and only prints what it would change."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from shipflow.hosts.base import CommandResult

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=")


if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterable, Sequence

    from shipflow.hosts.base import Host
    from shipflow.report import Reporter


class DryRunHost:
    """Queries and reads go to ``host``; commands and writes are printed through ``reporter`` (masked)."""

    def __init__(self, host: Host, reporter: Reporter) -> None:
        self.host = host
        self.reporter = reporter

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def rehearses(self) -> bool:
        return True

    def close(self) -> None:
        self.host.close()

    def query(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandResult:
        return self.host.query(argv, timeout=timeout)

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        fed = f"  (stdin: {len(stdin)} bytes)" if stdin is not None else ""
        self.reporter.line(f"  would run on {self.name}: {shlex.join(argv)}{fed}")
        return CommandResult(argv=tuple(argv), exit_code=0, stdout="", stderr="")

    def run_stream(
        self,
        argv: Sequence[str],
        chunks: Iterable[bytes] | None,
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> CommandResult:
        fed = "  (stdin: a stream)" if chunks is not None else ""
        self.reporter.line(f"  would run on {self.name}: {shlex.join(argv)}{fed}")
        return CommandResult(argv=tuple(argv), exit_code=0, stdout="", stderr="")

    def run_attached(self, argv: Sequence[str]) -> int:
        self.reporter.line(f"  would run on {self.name}, attached to this terminal: {shlex.join(argv)}")
        return 0

    def write_file(self, path: str, content: bytes, *, mode: int = 0o644) -> None:
        text = content.decode("utf-8", "replace")
        if mode & 0o077:
            self.reporter.line(f"  would write {self.name}:{path} (mode {mode:04o}, {len(content)} bytes):")
            for line in text.splitlines():
                self.reporter.line(f"    | {line}")
            return
        # A private file (an env file) is described by its keys only: its values never reach a plan.
        keys = [line.split("=", 1)[0].strip() for line in text.splitlines() if _ASSIGNMENT.match(line)]
        shown = f"keys: {', '.join(keys)}" if keys else "content not shown"
        self.reporter.line(
            f"  would write {self.name}:{path} (mode {mode:04o}, {len(content)} bytes; {shown})"
        )

    def read_file(self, path: str) -> bytes | None:
        return self.host.read_file(path)
