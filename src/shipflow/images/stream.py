"""Docker's classic-builder stream read as data: each Dockerfile step, whether it ran or came from the
cache, how long it took and what it printed; the image id; docker's error.

Nothing here prints or talks to docker. :class:`BuildStreamReader` takes the decoded JSON messages one at
a time (``{"stream": ...}``, ``{"status": ...}``, ``{"error": ...}``, ``{"aux": {"ID": ...}}``) and reads
the time from the clock it is given, so a recorded stream gives the same steps in a test.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

Clock = Callable[[], float]

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_BUILT = re.compile(r"^Successfully built ([0-9a-f]+)$")
# Docker's own lines between a step's header and its end; everything else in a step is the step's output.
_BOOKKEEPING = re.compile(
    r"^(?:---> (?:Using cache|Running in [0-9a-f]+|[0-9a-f]{12,})"
    r"|Removing intermediate container [0-9a-f]+|Successfully (?:built|tagged) .*)$"
)
# A message starting like this is docker's, never the rest of a line a RUN left unfinished.
_DOCKER_PREFIXES = (" ---> ", "Removing intermediate container ", "Step ", "Successfully ")


class StepOutcome(StrEnum):
    """How a step ended: from docker's cache, run now, or failed."""

    CACHED = "cached"
    RAN = "ran"
    FAILED = "failed"


@dataclass(frozen=True)
class BuildStep:
    """One finished step: ``number`` of ``total``, its instruction as docker shows it, and its output."""

    number: int
    total: int
    instruction: str
    outcome: StepOutcome
    seconds: float
    output: tuple[str, ...] = ()
    cacheable: bool = True
    """False for FROM and the ARGs before the first FROM: docker never takes those from its cache (a FROM
    whose image is here already counts as cached, one that pulled as ran)."""


@dataclass(frozen=True)
class RunningStep:
    """The step docker is working on: what a progress line shows."""

    number: int
    total: int
    instruction: str
    started: float
    last_output: str = ""


@dataclass(frozen=True)
class StepStarted:
    step: RunningStep


@dataclass(frozen=True)
class StepOutput:
    step: RunningStep
    line: str


@dataclass(frozen=True)
class StepFinished:
    step: BuildStep


BuildEvent = StepStarted | StepOutput | StepFinished


@dataclass(frozen=True)
class BuildLog:
    """A whole build as docker reported it."""

    steps: tuple[BuildStep, ...] = ()
    image_id: str = ""
    error: str = ""

    @property
    def failed_step(self) -> BuildStep | None:
        """The step docker was running when it reported its error (None: no error, or none running)."""
        last = self.steps[-1] if self.steps else None
        return last if last is not None and last.outcome is StepOutcome.FAILED else None

    @property
    def cacheable_steps(self) -> int:
        return sum(step.cacheable for step in self.steps)

    @property
    def cached_steps(self) -> int:
        return sum(step.cacheable and step.outcome is StepOutcome.CACHED for step in self.steps)


@dataclass
class _OpenStep:
    running: RunningStep
    cacheable: bool
    used_cache: bool = False
    pulled: bool = False
    output: list[str] = field(default_factory=list)

    def finish(self, now: float, *, failed: bool) -> BuildStep:
        if failed:
            outcome = StepOutcome.FAILED
        elif self.used_cache or not (self.cacheable or self.pulled):
            outcome = StepOutcome.CACHED
        else:
            outcome = StepOutcome.RAN
        step = self.running
        return BuildStep(
            step.number,
            step.total,
            step.instruction,
            outcome,
            max(0.0, now - step.started),
            tuple(self.output),
            self.cacheable,
        )


def docker_lines(message: Mapping[str, Any]) -> list[str]:
    """The lines ``docker build`` itself would print for one message (what ``--verbose`` shows)."""
    if "stream" in message:
        return [line for line in str(message["stream"]).splitlines() if line.strip()]
    if "status" in message:
        return [" ".join(str(message[key]) for key in ("status", "id", "progress") if message.get(key))]
    return []


def error_of(message: Mapping[str, Any]) -> str:
    """Docker's error message in an ``{"error": ...}`` message."""
    detail = message.get("errorDetail")
    detailed = detail.get("message") if isinstance(detail, Mapping) else None
    return str(detailed or message["error"]).strip()


class BuildStreamReader:
    """Reads a classic-builder stream message by message into steps; :meth:`finish` returns the log."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._unfinished = ""  # the start of a line whose end has not arrived yet
        self._open: _OpenStep | None = None
        self._steps: list[BuildStep] = []
        self._seen_from = False
        self._image_id = ""
        self._error = ""

    @property
    def running(self) -> RunningStep | None:
        """The step docker is working on now."""
        return self._open.running if self._open is not None else None

    def feed(self, message: Mapping[str, Any]) -> list[BuildEvent]:
        """Read one decoded message; what it started, printed and finished."""
        events: list[BuildEvent] = []
        if "stream" in message:
            for line in self._complete_lines(str(message["stream"])):
                events.extend(self._read_line(line))
        elif "status" in message:
            events.extend(self._read_status(message))
        aux = message.get("aux")
        if isinstance(aux, Mapping) and aux.get("ID"):
            self._image_id = str(aux["ID"])
            events.extend(self._close())
        if "error" in message:
            events.extend(self._flush_unfinished())
            self._error = error_of(message)
            events.extend(self._close(failed=True))
        return events

    def finish(self) -> BuildLog:
        """Close the step still open (it failed when docker reported an error) and return the log."""
        self._flush_unfinished()
        self._close(failed=bool(self._error))
        return BuildLog(tuple(self._steps), self._image_id, self._error)

    def abort(self, reason: str) -> BuildLog:
        """The log of a stream that ended early (reading it raised): the open step failed."""
        self._error = self._error or reason
        return self.finish()

    def _complete_lines(self, text: str) -> Iterator[str]:
        if self._unfinished and text.startswith(_DOCKER_PREFIXES):
            yield self._unfinished
            self._unfinished = ""
        pieces = (self._unfinished + text).splitlines(keepends=True)
        self._unfinished = ""
        if pieces and not pieces[-1].endswith(("\n", "\r")):
            self._unfinished = pieces.pop()
        yield from (piece.rstrip("\r\n") for piece in pieces)

    def _flush_unfinished(self) -> list[BuildEvent]:
        line, self._unfinished = self._unfinished, ""
        return self._read_line(line) if line else []

    def _read_line(self, line: str) -> list[BuildEvent]:
        if not line.strip():
            return []
        header = _STEP.match(line)
        if header:
            return self._start(int(header.group(1)), int(header.group(2)), header.group(3))
        bookkeeping = line.strip()
        built = _BUILT.match(bookkeeping)
        if built:
            self._image_id = self._image_id or built.group(1)
            return self._close()
        if _BOOKKEEPING.match(bookkeeping):
            if self._open is not None and bookkeeping == "---> Using cache":
                self._open.used_cache = True
            return []
        return self._output(line)

    def _read_status(self, message: Mapping[str, Any]) -> list[BuildEvent]:
        if self._open is not None:
            self._open.pulled = True
        if message.get("progress") or message.get("progressDetail"):
            return []  # a progress bar's redraw: nothing a person reads afterwards
        return self._output(": ".join(str(message[key]) for key in ("id", "status") if message.get(key)))

    def _output(self, line: str) -> list[BuildEvent]:
        if self._open is None:
            return []
        self._open.output.append(line)
        self._open.running = replace(self._open.running, last_output=line)
        return [StepOutput(self._open.running, line)]

    def _start(self, number: int, total: int, instruction: str) -> list[BuildEvent]:
        events = self._close()
        keyword = instruction.split(maxsplit=1)[0].upper() if instruction.strip() else ""
        cacheable = self._seen_from and keyword != "FROM"
        self._seen_from = self._seen_from or keyword == "FROM"
        running = RunningStep(number, total, instruction, self._clock())
        self._open = _OpenStep(running, cacheable)
        return [*events, StepStarted(running)]

    def _close(self, *, failed: bool = False) -> list[BuildEvent]:
        if self._open is None:
            return []
        step = self._open.finish(self._clock(), failed=failed)
        self._open = None
        self._steps.append(step)
        return [StepFinished(step)]


def read_build_stream(messages: Iterable[Mapping[str, Any]], clock: Clock = time.monotonic) -> BuildLog:
    """The log of a whole recorded stream."""
    reader = BuildStreamReader(clock)
    for message in messages:
        reader.feed(message)
    return reader.finish()
