"""One way to tell a person what is happening: step lines with durations, every line masked."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def _unmasked(text: str) -> str:
    return text


@dataclass
class Step:
    """A step in progress: what its line will say after the status."""

    detail: str


class Reporter:
    """Prints progress; ``mask`` is applied to every line, so no caller can leak a secret by accident."""

    def __init__(self, mask: Callable[[str], str] = _unmasked, stream: TextIO | None = None) -> None:
        self.mask = mask
        self.stream = stream if stream is not None else sys.stdout
        self.timings: dict[str, float] = {}
        self._counts_into: Reporter | None = None

    def for_run(self) -> Reporter:
        """A reporter for one run (one deploy on one host): the same mask and stream, its own ``timings``
        starting empty, every step also counted in this reporter's. Runs that share a reporter (the hosts
        of a fleet, in parallel or one after another) each keep only their own steps."""
        run = Reporter(self.mask, self.stream)
        run._counts_into = self
        return run

    def line(self, text: str) -> None:
        print(self.mask(text), file=self.stream, flush=True)

    @contextmanager
    def step(self, name: str, detail: str = "") -> Iterator[Step]:
        """Time a step and print it on one line when it ends (``FAILED`` when it raises), with its detail
        as the step left it (``with reporter.step(...) as step: step.detail = "what it found"``)."""
        started = time.monotonic()
        current = Step(detail)
        try:
            yield current
        except BaseException:
            self._finish(name, started, "FAILED", current.detail)
            raise
        self._finish(name, started, "ok", current.detail)

    def _finish(self, name: str, started: float, status: str, detail: str) -> None:
        seconds = time.monotonic() - started
        self._count(name, seconds)
        suffix = f"  {detail}" if detail else ""
        self.line(f"  {name:<14} {seconds:6.2f}s  {status}{suffix}")

    def _count(self, name: str, seconds: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + seconds
        if self._counts_into is not None:
            self._counts_into._count(name, seconds)
