"""Judging a release while it bakes, as pure functions: its figures from requests, the limits they must
stay within (absolute, or on top of the old release's figures), the verdict and the lines that show it.

A health check asks one question once, before the switch: does ``/health`` answer 200? Baking watches
what the release does with real requests after the switch (and with probes of its own paths), while the
old release still runs, so a release that is healthy but fails or slows its real endpoints is switched
back before anyone has to notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from shipflow.deploy import traffic_log
from shipflow.errors import BadInput
from shipflow.figures import nearest_rank

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from shipflow.deploy.settings import BakeSettings
    from shipflow.deploy.traffic_log import Entry

HEALTH_FAILURES_IN_A_ROW = 3
"""Probes of the health path that fail one after the other before the release counts as down."""
SETTLE_SECONDS = 1.5
"""After a switch, nginx's pooled connections to the old slot retire within about a second
(``keepalive_time 1s``): requests without a release header that end in this time are nobody's."""
BASELINE_SECONDS = 300.0
"""The old release's figures come from the requests of these last minutes before the deploy."""
MAX_WINDOW_SECONDS = 3600


class BadBakeFlag(BadInput):
    """``--bake`` was given something other than whole seconds from 0 to an hour."""


def window_flag(value: str | None) -> float | None:
    """``--bake S`` as seconds, None when not given; :class:`BadBakeFlag` for anything else."""
    if value is None:
        return None
    text = str(value).strip()
    if not text.isdigit() or int(text) > MAX_WINDOW_SECONDS:
        raise BadBakeFlag(
            f"--bake takes whole seconds from 0 to {MAX_WINDOW_SECONDS}, e.g. --bake 30; got {value!r}"
        )
    return float(text)


class BadCanaryFlag(BadInput):
    """``--canary`` was not a list of increasing percentages from 1 to 99."""


MAX_CANARY_STEPS = 10


def canary_flag(value: str | None) -> tuple[int, ...]:
    """``--canary 10,50`` as the shares of traffic each step sends to the new release (then 100 %); none
    when not given; :class:`BadCanaryFlag` for anything but increasing whole percentages from 1 to 99."""
    if value is None:
        return ()
    parts = [part.strip() for part in str(value).split(",")]
    steps = tuple(int(part) for part in parts if part.isdigit())
    if (
        len(steps) != len(parts)
        or not 0 < len(steps) <= MAX_CANARY_STEPS
        or not all(0 < step < 100 for step in steps)
        or any(later <= earlier for earlier, later in pairwise(steps))
    ):
        raise BadCanaryFlag(
            f"--canary takes increasing percentages from 1 to 99 (at most {MAX_CANARY_STEPS}), e.g. "
            f"--canary 10,50; got {value!r}"
        )
    return steps


@dataclass(frozen=True)
class Sample:
    """One request's outcome: its status (0: no answer) and duration in ms."""

    status: int
    ms: float

    @property
    def failed(self) -> bool:
        return self.status == 0 or self.status >= 500


@dataclass(frozen=True)
class Figures:
    """What a release's requests add up to."""

    requests: int = 0
    errors: int = 0
    p95_ms: float | None = None

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Figures:
        if not samples:
            return cls()
        p95 = nearest_rank([sample.ms for sample in samples], 95)
        return cls(len(samples), sum(1 for sample in samples if sample.failed), round(p95, 1))

    @property
    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def text(self) -> str:
        """``0.1% 5xx p95 41 ms`` (``no requests`` without any)."""
        if not self.requests:
            return "no requests"
        p95 = f"{self.p95_ms:.0f} ms" if self.p95_ms is not None else "-"
        return f"{self.error_ratio:.1%} 5xx p95 {p95} ({self.requests} req)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_ratio": round(self.error_ratio, 4),
            "p95_ms": self.p95_ms,
        }


@dataclass(frozen=True)
class Limits:
    """The figures a baking release must stay within."""

    error_ratio: float
    p95_ms: float


def limits(settings: BakeSettings, baseline: Figures | None) -> Limits:
    """The configured limits; with ``relative_to_baseline`` and a baseline of enough requests, each added
    to the old release's figure (a release is judged against what served before it)."""
    if not settings.relative_to_baseline or baseline is None or baseline.requests < settings.min_requests:
        return Limits(settings.max_error_ratio, settings.max_p95_ms)
    return Limits(
        min(1.0, baseline.error_ratio + settings.max_error_ratio),
        (baseline.p95_ms or 0.0) + settings.max_p95_ms,
    )


@dataclass(frozen=True)
class Verdict:
    """Breached or not, and if so what: one phrase, e.g. ``5xx ratio 19.8% > 5.0% over 240 requests``."""

    breached: bool
    reason: str = ""


def judge(new: Figures, within: Limits, min_requests: int, health_failures: int) -> Verdict:
    """A breach: the health path failed :data:`HEALTH_FAILURES_IN_A_ROW` probes in a row, or, once
    ``min_requests`` were seen, the 5xx ratio or the p95 is above its limit."""
    if health_failures >= HEALTH_FAILURES_IN_A_ROW:
        return Verdict(True, f"the health path failed {health_failures} probes in a row")
    if new.requests < min_requests:
        return Verdict(False)
    if new.error_ratio > within.error_ratio:
        return Verdict(
            True, f"5xx ratio {new.error_ratio:.1%} > {within.error_ratio:.1%} over {new.requests} requests"
        )
    if new.p95_ms is not None and new.p95_ms > within.p95_ms:
        return Verdict(True, f"p95 {new.p95_ms:.0f} ms > {within.p95_ms:.0f} ms over {new.requests} requests")
    return Verdict(False)


def attribute(
    entries: Iterable[Entry], new_sha: str, switched_at: float | None
) -> tuple[list[Sample], list[Sample]]:
    """The requests of the new release and of the old one, from the log after a switch at ``switched_at``
    (the host's clock): by the release header where a request has one, else by when it ended (after
    :data:`SETTLE_SECONDS`: the new release; before the switch: the old one). ``switched_at`` None: both
    releases take traffic (a canary step), so a request without the header is nobody's."""
    new: list[Sample] = []
    old: list[Sample] = []
    for entry in entries:
        sample = Sample(entry.status, entry.ms)
        if entry.release is not None:
            (new if traffic_log.same_release(entry.release, new_sha) else old).append(sample)
        elif switched_at is None:
            continue
        elif entry.at >= switched_at + SETTLE_SECONDS:
            new.append(sample)
        elif entry.at < switched_at:
            old.append(sample)
    return new, old


def baseline(entries: Iterable[Entry], now: float, serving_sha: str | None) -> Figures:
    """The old release's figures: the requests that ended in the last :data:`BASELINE_SECONDS`, but for
    those another release answered (one reverted in that time)."""
    return Figures.of(
        [
            Sample(e.status, e.ms)
            for e in entries
            if now - e.at <= BASELINE_SECONDS
            and (e.release is None or traffic_log.same_release(e.release, serving_sha))
        ]
    )


def line(
    label: str, seconds: float, new: Figures, old: Figures | None, verdict: Verdict, old_label: str = "before"
) -> str:
    """``bake  20s  new: 0.1% 5xx p95 41 ms (812 req) | before: 0.0% 5xx p95 38 ms (3120 req)  ok``; a
    canary step's old figures are those of the same time (``old_label`` "old")."""
    before = f" | {old_label}: {old.text()}" if old is not None else ""
    outcome = f"breach: {verdict.reason}" if verdict.breached else "ok"
    return f"  {label}  {seconds:.0f}s  new: {new.text()}{before}  {outcome}"
