"""Running a command as a user at a terminal does: on a new pseudo-terminal that is its stdin, stdout,
stderr and controlling terminal, with keys typed into it and everything it shows read back."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

COLUMNS, ROWS = 120, 40


@dataclass(frozen=True)
class Screen:
    """What a terminal run showed (its ``\\r\\n`` made ``\\n``) and the command's exit code."""

    returncode: int
    output: str


def run_in_terminal(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    keys: bytes = b"",
    after: str | None = None,
    timeout: float = 180.0,
) -> Screen:
    """Run ``argv`` on a new pseudo-terminal (``setsid --ctty`` makes it the controlling one) and return
    what it showed. ``keys`` are typed once the screen shows ``after`` (at once without it)."""
    control, user = os.openpty()
    fcntl.ioctl(user, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    process = subprocess.Popen(
        ["setsid", "--ctty", *argv], cwd=cwd, env=dict(env), stdin=user, stdout=user, stderr=user
    )
    os.close(user)  # the command holds the terminal now: reading it ends when the command ends
    shown = bytearray()
    typed = not keys
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not typed and (after is None or after.encode() in shown):
                os.write(control, keys)
                typed = True
            if select.select([control], [], [], 0.1)[0]:
                try:
                    data = os.read(control, 65536)
                except OSError:  # EIO: every holder of the terminal's other side closed it
                    break
                if not data:
                    break
                shown += data
        else:
            process.kill()
            raise AssertionError(f"{argv} did not end within {timeout} s; it showed:\n{shown.decode()}")
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(control)
    return Screen(code, shown.decode("utf-8", "replace").replace("\r\n", "\n"))
