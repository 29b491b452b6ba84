"""What Locust says, read back as plain figures: its final request stats (``--json-file``) and, while it
runs, the stats table it prints.

Locust keeps each request name's response times as a histogram (milliseconds, rounded the way Locust
rounds them, to two significant digits above 100 ms); the percentiles here walk the merged histogram
the way Locust's own report does, so the figures match its HTML report.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


class UnreadableReport(ValueError):
    """A Locust file is not what Locust writes (empty, cut, or of another version's shape)."""


@dataclass(frozen=True)
class LoadFigures:
    """What a Locust run measured over all request names."""

    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    duration_s: float
    """From the first request's stats entry to the last request: how long load was really sent."""

    @property
    def fail_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    @property
    def rps(self) -> float:
        """Requests per second over the run."""
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    def as_figures(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "fail_ratio": round(self.fail_ratio, 6),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "rps": round(self.rps, 2),
            "duration_s": round(self.duration_s, 2),
        }


def histogram_percentile(histogram: dict[float, int], percent: float) -> float:
    """The response time ``percent`` (0-1) of the requests finished within, from a histogram of response
    time -> count (Locust's definition: walk down from the slowest until the rest is within ``percent``)."""
    total = sum(histogram.values())
    within = int(total * percent)
    processed = 0
    for response_time in sorted(histogram, reverse=True):
        processed += histogram[response_time]
        if total - processed <= within:
            return response_time
    return 0.0


def _entry(item: Any) -> tuple[int, int, dict[float, int], float, float | None]:
    try:
        histogram = {float(ms): int(count) for ms, count in item["response_times"].items()}
        last = item["last_request_timestamp"]
        return (
            int(item["num_requests"]),
            int(item["num_failures"]),
            histogram,
            float(item["start_time"]),
            None if last is None else float(last),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise UnreadableReport(f"a stats entry lacks {error}") from None


def figures_from_stats(text: str) -> LoadFigures:
    """The figures of Locust's ``--json-file`` output (one object per request name); an empty list is a run
    that made no request."""
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise UnreadableReport(f"not JSON: {error}") from None
    if not isinstance(entries, list):
        raise UnreadableReport("not a list of stats entries")
    parsed = [_entry(item) for item in entries]
    if not parsed:
        return LoadFigures(0, 0, 0.0, 0.0, 0.0, 0.0)
    histogram: dict[float, int] = {}
    for _, _, entry_histogram, _, _ in parsed:
        for ms, count in entry_histogram.items():
            histogram[ms] = histogram.get(ms, 0) + count
    started = min(start for _, _, _, start, _ in parsed)
    lasts = [last for *_, last in parsed if last is not None]
    return LoadFigures(
        requests=sum(requests for requests, *_ in parsed),
        failures=sum(failures for _, failures, *_ in parsed),
        p50_ms=histogram_percentile(histogram, 0.50),
        p95_ms=histogram_percentile(histogram, 0.95),
        p99_ms=histogram_percentile(histogram, 0.99),
        duration_s=max(0.0, max(lasts, default=started) - started),
    )


@dataclass(frozen=True)
class Progress:
    """Where a running Locust stands, from the ``Aggregated`` row of the stats table it prints every
    2 seconds: all requests and failures so far, and the current request rate (its last seconds)."""

    requests: int
    failures: int
    current_rps: float


_AGGREGATED_ROW = re.compile(
    r"^\s*Aggregated\s+(?P<requests>\d+)\s+(?P<failures>\d+)\([0-9.]+%\)\s*\|[^|]*\|\s*(?P<rps>[0-9.]+)\s+[0-9.]+\s*$"
)


def progress_of(line: str) -> Progress | None:
    """The :class:`Progress` in a line of Locust's output when it is the stats table's ``Aggregated`` row
    (``Aggregated  1234  0(0.00%) |  3  1  25  3 |  245.30  0.00``); None for any other line."""
    match = _AGGREGATED_ROW.match(line)
    if match is None:
        return None
    return Progress(int(match["requests"]), int(match["failures"]), float(match["rps"]))
