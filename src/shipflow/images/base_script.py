"""Running the base image's builder script (debootstrap, then ``docker import``) with a build's output.

By default only the script's own ``base image: ...`` lines are shown, with a progress line on a terminal;
debootstrap's hundreds of lines are kept in memory and shown when the script fails. ``verbose`` lets the
script write straight to this process's stdout and stderr, as it happens.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from shipflow.images.progress import BuildOutput, LiveLine, cut, indented_output, one_line, ticking
from shipflow.images.stream import Clock

SCRIPT_PREFIX = "base image: "
"""The script's own lines (what it builds, that it is done or skipped): always shown; its error lines
are shown with the output they follow, when it fails."""
ERROR_PREFIX = SCRIPT_PREFIX + "error: "


class _ScriptProgress:
    """The redrawn line while the script runs: the time so far and its last line of output."""

    def __init__(self, live: LiveLine, started: float, clock: Clock) -> None:
        self._live = live
        self._started = started
        self._clock = clock
        self._last = ""
        self._lock = threading.Lock()

    def saw(self, line: str) -> None:
        self._last = line

    def tick(self) -> None:
        with self._lock:
            seconds = self._clock() - self._started
            text = f"  base image  running {seconds:5.1f}s"
            self._live.draw(f"{text}  | {self._last}" if self._last else text)

    def print_above(self, output: BuildOutput, text: str) -> None:
        with self._lock:
            self._live.clear()
            output.line(text)

    def clear(self) -> None:
        with self._lock:
            self._live.clear()


def run_base_script(
    argv: Sequence[str], cwd: Path, output: BuildOutput, clock: Clock = time.monotonic
) -> int:
    """Run the builder script and show it on ``output``; its exit code (its output shown when not 0)."""
    if output.verbose:
        return subprocess.run(list(argv), cwd=cwd, check=False, stdin=subprocess.DEVNULL).returncode
    live = output.live_line()
    progress = _ScriptProgress(live, clock(), clock) if live is not None else None
    kept: list[str] = []
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as script:
        with ticking(progress.tick) if progress is not None else nullcontext():
            for raw in script.stdout or ():
                line = raw.rstrip("\r\n")
                if line.startswith(SCRIPT_PREFIX) and not line.startswith(ERROR_PREFIX):
                    _show(output, progress, "  " + line)
                elif line.strip():
                    kept.append(line)
                    if progress is not None:
                        progress.saw(cut(one_line(line), output.width))
        code = script.wait()
    if progress is not None:
        progress.clear()
    if code != 0:
        for text in indented_output(kept):
            output.line(text)
    return code


def _show(output: BuildOutput, progress: _ScriptProgress | None, text: str) -> None:
    if progress is None:
        output.line(text)
    else:
        progress.print_above(output, text)
