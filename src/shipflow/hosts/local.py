"""This machine as a :class:`~shipflow.hosts.base.Host`.

``subprocess`` rather than invoke's runner: invoke's stdin handling is character-oriented text, and
a deploy feeds binary streams (``docker load``) and secrets (env files) through stdin.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from shipflow.hosts.base import CommandResult, HostError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

STOP_POLL_SECONDS = 0.1
END_GRACE_SECONDS = 5.0


class LocalHost:
    """Commands and files on the machine shipflow runs on."""

    @property
    def name(self) -> str:
        return "local"

    @property
    def rehearses(self) -> bool:
        return False

    def close(self) -> None:
        """Nothing to let go of: commands run as child processes."""

    def query(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandResult:
        return self.run(argv, timeout=timeout)

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        try:
            done = subprocess.run(
                list(argv),
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as error:
            raise HostError(f"local: {argv[0]} is not installed (run `bash scripts/setup.sh`)") from error
        except subprocess.TimeoutExpired as error:
            raise HostError(f"local: `{shlex.join(argv)}` did not finish within {timeout} s") from error
        return CommandResult(
            argv=tuple(argv),
            exit_code=done.returncode,
            stdout=done.stdout.decode("utf-8", "replace"),
            stderr=done.stderr.decode("utf-8", "replace"),
        )

    def run_stream(
        self,
        argv: Sequence[str],
        chunks: Iterable[bytes] | None,
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> CommandResult:
        try:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if chunks is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except FileNotFoundError as error:
            raise HostError(f"local: {argv[0]} is not installed (run `bash scripts/setup.sh`)") from error
        out: list[str] = []
        err: list[bytes] = []
        readers = [
            threading.Thread(target=_read_lines, args=(process.stdout, out, on_line), daemon=True),
            threading.Thread(target=_read_all, args=(process.stderr, err), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            _feed(process.stdin, chunks)
            code = _wait(process, timeout, stop)
        except subprocess.TimeoutExpired as error:
            process.kill()
            raise HostError(f"local: `{shlex.join(argv)}` did not finish within {timeout} s") from error
        except BaseException:
            _end(process)  # interrupted (Ctrl-C, kill -INT): the command does not outlive the caller
            raise
        finally:
            for reader in readers:
                reader.join()
        return CommandResult(tuple(argv), code, "".join(out), b"".join(err).decode("utf-8", "replace"))

    def run_attached(self, argv: Sequence[str]) -> int:
        sys.stdout.flush()  # what shipflow printed comes before the command's own output
        sys.stderr.flush()
        try:
            return subprocess.run(list(argv), check=False).returncode  # stdin, stdout, stderr inherited
        except FileNotFoundError as error:
            raise HostError(f"local: {argv[0]} is not installed (run `bash scripts/setup.sh`)") from error

    def write_file(self, path: str, content: bytes, *, mode: int = 0o644) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # The temporary file is created with the final mode, so a secret is never readable by others,
        # and renamed over the target, so readers see the old or the new content, never a mix.
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as stream:
                stream.write(content)
                stream.flush()
                os.fsync(stream.fileno())
            Path(temporary).replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def read_file(self, path: str) -> bytes | None:
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            return None


def _wait(process: subprocess.Popen[bytes], timeout: float | None, stop: threading.Event | None) -> int:
    """The command's exit code when it ends, or after ``stop`` is set and it was ended."""
    if stop is None:
        return process.wait(timeout=timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while (code := process.poll()) is None:
        if stop.wait(STOP_POLL_SECONDS):
            return _end(process)
        if deadline is not None and time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(process.args, timeout or 0.0)
    return code


def _end(process: subprocess.Popen[bytes]) -> int:
    """Terminate the command (SIGTERM, then SIGKILL after a grace period) and reap it; its exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            return process.wait(timeout=END_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def _feed(stdin: IO[bytes] | None, chunks: Iterable[bytes] | None) -> None:
    """Write ``chunks`` to a child's stdin; a child that stops reading early ends the feeding quietly."""
    if stdin is None:
        return
    # A command that ended first (BrokenPipeError) says why through its exit code and output.
    with contextlib.suppress(BrokenPipeError):
        for chunk in chunks or ():
            stdin.write(chunk)
    with contextlib.suppress(BrokenPipeError):
        stdin.close()


def _read_lines(stream: IO[bytes] | None, into: list[str], on_line: Callable[[str], None] | None) -> None:
    for raw in stream or ():
        line = raw.decode("utf-8", "replace")
        into.append(line)
        if on_line is not None:
            on_line(line.rstrip("\n"))


def _read_all(stream: IO[bytes] | None, into: list[bytes]) -> None:
    if stream is not None:
        into.append(stream.read())
