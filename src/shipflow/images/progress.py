"""How a build is shown while it runs: by default one line per finished step (a run of cached steps folded
into one line), a progress line redrawn in place on a terminal, and a failing step's own output; with
``verbose`` docker's whole stream, line by line.

The stream is read by :mod:`shipflow.images.stream`; this module only prints what it returns. Every line
goes through the caller's ``line`` sink (which masks); the redrawn progress line goes through ``mask``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from shipflow.images.stream import (
    BuildEvent,
    BuildLog,
    BuildStep,
    BuildStreamReader,
    Clock,
    RunningStep,
    StepFinished,
    StepOutcome,
    StepOutput,
    docker_lines,
)

LineSink = Callable[[str], None]
Mask = Callable[[str], str]

DEFAULT_WIDTH = 100
FAILED_OUTPUT_LINES = 200
"""At most this many of a failed step's last output lines are shown (``--verbose`` shows them all)."""
TICK_SECONDS = 0.5
OUTPUT_PREFIX = "    | "


def _unmasked(text: str) -> str:
    return text


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks of a continued instruction too) as one space."""
    return " ".join(text.split())


def cut(text: str, width: int) -> str:
    """``text`` (one line) of at most ``width`` characters, an ellipsis marking a cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _number(number: int, total: int) -> str:
    return f"{number:>{len(str(total))}}/{total}"


def step_line(step: BuildStep, width: int = DEFAULT_WIDTH) -> str:
    """``  step  3/22  cached  0.00s  COPY pyproject.toml .``, cut to ``width``."""
    head = f"  step {_number(step.number, step.total)}  {step.outcome:<6}  {step.seconds:.2f}s  "
    return cut(head + one_line(step.instruction), width)


def keywords(steps: Sequence[BuildStep]) -> str:
    """The instructions' keywords in order, repeats counted: ``ARG, FROM, COPY x4, LABEL x6``."""
    counted: list[tuple[str, int]] = []
    for step in steps:
        keyword = step.instruction.split(maxsplit=1)[0].upper() if step.instruction.strip() else "?"
        if counted and counted[-1][0] == keyword:
            counted[-1] = (keyword, counted[-1][1] + 1)
        else:
            counted.append((keyword, 1))
    return ", ".join(keyword if count == 1 else f"{keyword} x{count}" for keyword, count in counted)


def cached_run_line(steps: Sequence[BuildStep], width: int = DEFAULT_WIDTH) -> str:
    """One line for consecutive cached steps: ``  steps 1-16/22  cached  0.02s  ARG, FROM, ENV, ...``."""
    if len(steps) == 1:
        return step_line(steps[0], width)
    first, last = steps[0], steps[-1]
    seconds = sum(step.seconds for step in steps)
    numbers = f"{first.number}-{last.number}/{last.total}"
    return cut(f"  steps {numbers}  cached  {seconds:.2f}s  {keywords(steps)}", width)


def progress_line(step: RunningStep, now: float, width: int) -> str:
    """The redrawn line while ``step`` runs: its number, time so far, instruction and last output."""
    number = _number(step.number, step.total)
    text = f"  step {number}  running {now - step.started:.1f}s  {one_line(step.instruction)}"
    if step.last_output:
        text = f"{cut(text, width * 2 // 3)}  | {one_line(step.last_output)}"
    return cut(text, width)


def indented_output(lines: Sequence[str], limit: int = FAILED_OUTPUT_LINES) -> list[str]:
    """What a failed step or script printed (its last ``limit`` lines), indented under its own line."""
    if not lines:
        return [f"{OUTPUT_PREFIX}(it printed nothing)"]
    shown = lines[-limit:]
    left_out = len(lines) - len(shown)
    head = [f"{OUTPUT_PREFIX}({left_out} earlier lines left out; --verbose shows them)"] if left_out else []
    return [*head, *(OUTPUT_PREFIX + line for line in shown)]


def is_terminal(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a progress line can be redrawn on ``stream``: a terminal, not a dumb one, not in CI."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and environ.get("TERM") != "dumb" and not environ.get("CI")


class LiveLine:
    """The last line of a terminal, redrawn in place; :meth:`clear` it before printing a line above it."""

    def __init__(self, stream: TextIO, mask: Mask = _unmasked, width: int = DEFAULT_WIDTH) -> None:
        self.stream = stream
        self.mask = mask
        self.width = width
        self._shown = False

    def draw(self, text: str) -> None:
        self.stream.write("\r" + cut(self.mask(text), self.width - 1) + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


class BuildPrinter(Protocol):
    """Shows a build as its messages arrive."""

    def show(self, message: Mapping[str, Any], events: Sequence[BuildEvent]) -> None: ...

    def tick(self) -> None: ...

    def close(self, log: BuildLog) -> None: ...


class DockerStreamPrinter:
    """``--verbose``: every line docker prints, as ``docker build`` shows it."""

    def __init__(self, line: LineSink) -> None:
        self._line = line

    def show(self, message: Mapping[str, Any], events: Sequence[BuildEvent]) -> None:
        for text in docker_lines(message):
            self._line(text)

    def tick(self) -> None:
        """Nothing is redrawn."""

    def close(self, log: BuildLog) -> None:
        """Every line was shown already."""


class StepPrinter:
    """The default: a line per finished step (consecutive cached steps folded into one), a progress line
    on a terminal, and at the end the failed step's output."""

    def __init__(
        self, line: LineSink, *, width: int, live: LiveLine | None = None, clock: Clock = time.monotonic
    ) -> None:
        self._line = line
        self._width = width
        self._live = live
        self._clock = clock
        self._cached: list[BuildStep] = []  # finished cached steps not shown yet
        self._running: RunningStep | None = None
        self._lock = threading.Lock()  # tick() redraws from another thread

    def show(self, message: Mapping[str, Any], events: Sequence[BuildEvent]) -> None:
        with self._lock:
            for event in events:
                if isinstance(event, StepFinished):
                    self._running = None
                    self._finished(event.step)
                else:
                    self._running = event.step
            if self._live is not None and any(not isinstance(event, StepOutput) for event in events):
                self._redraw()

    def tick(self) -> None:
        with self._lock:
            self._redraw()

    def close(self, log: BuildLog) -> None:
        with self._lock:
            self._running = None
            self._flush_cached()
            if self._live is not None:
                self._live.clear()
            failed = log.failed_step
            if failed is not None:
                for text in indented_output(failed.output):
                    self._line(text)

    def _redraw(self) -> None:
        if self._live is None:
            return
        if self._running is None:
            self._live.clear()
        else:
            self._live.draw(progress_line(self._running, self._clock(), self._width))

    def _finished(self, step: BuildStep) -> None:
        if step.outcome is StepOutcome.CACHED:
            self._cached.append(step)
            return
        self._flush_cached()
        self._print(step_line(step, self._width))

    def _flush_cached(self) -> None:
        if self._cached:
            self._print(cached_run_line(self._cached, self._width))
            self._cached = []

    def _print(self, text: str) -> None:
        if self._live is not None:
            self._live.clear()
        self._line(text)
        if self._live is not None:
            self._redraw()


@dataclass(frozen=True)
class BuildOutput:
    """Where a build's lines go: ``line`` (the caller's sink, which masks), docker's whole stream when
    ``verbose``, and a progress line redrawn on ``terminal`` when there is one (masked with ``mask``)."""

    line: LineSink = print
    verbose: bool = False
    terminal: TextIO | None = None
    mask: Mask = _unmasked
    width: int = DEFAULT_WIDTH

    @property
    def redraws(self) -> bool:
        """Whether a progress line is redrawn: on a terminal, unless verbose (docker's stream shows it)."""
        return self.terminal is not None and not self.verbose

    def live_line(self) -> LiveLine | None:
        return LiveLine(self.terminal, self.mask, self.width) if self.terminal and self.redraws else None

    def printer(self, clock: Clock = time.monotonic) -> BuildPrinter:
        if self.verbose:
            return DockerStreamPrinter(self.line)
        return StepPrinter(self.line, width=self.width, live=self.live_line(), clock=clock)


def line_width(stream: TextIO | None) -> int:
    """The terminal's width when ``stream`` is one, else :data:`DEFAULT_WIDTH`."""
    if stream is None:
        return DEFAULT_WIDTH
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def output_to(
    stream: TextIO, line: LineSink, *, mask: Mask = _unmasked, verbose: bool = False
) -> BuildOutput:
    """A build's output for lines printed by ``line`` on ``stream``: a progress line when it is a terminal."""
    terminal = stream if is_terminal(stream) else None
    return BuildOutput(line, verbose, terminal, mask, line_width(terminal))


@contextmanager
def ticking(tick: Callable[[], None], seconds: float = TICK_SECONDS) -> Iterator[None]:
    """Call ``tick`` every ``seconds`` in a thread while the block runs (the progress line's clock)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            tick()

    thread = threading.Thread(target=loop, name="shipflow-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def follow(
    messages: Iterable[Mapping[str, Any]], output: BuildOutput, clock: Clock = time.monotonic
) -> BuildLog:
    """Read docker's build ``messages`` to the end, showing them on ``output``; the build's log.

    When reading the stream raises, the step docker was running is shown as failed, with its output.
    """
    reader = BuildStreamReader(clock)
    printer = output.printer(clock)
    try:
        with ticking(printer.tick) if output.redraws else nullcontext():
            for message in messages:
                printer.show(message, reader.feed(message))
    except BaseException as error:
        printer.close(reader.abort(str(error) or type(error).__name__))
        raise
    log = reader.finish()
    printer.close(log)
    return log
