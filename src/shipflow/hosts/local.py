"""This machine as a :class:`~shipflow.hosts.base.Host`.

``subprocess`` rather than invoke's runner: invoke's stdin handling is character-oriented text, and
a deploy feeds binary streams (``docker load``) and secrets (env files) through stdin.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from shipflow.hosts.base import CommandResult, HostError

if TYPE_CHECKING:
    from collections.abc import Sequence


class LocalHost:
    """Commands and files on the machine shipflow runs on."""

    @property
    def name(self) -> str:
        return "local"

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
            raise HostError(f"local: `{' '.join(argv)}` did not finish within {timeout} s") from error
        return CommandResult(
            argv=tuple(argv),
            exit_code=done.returncode,
            stdout=done.stdout.decode("utf-8", "replace"),
            stderr=done.stderr.decode("utf-8", "replace"),
        )

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
