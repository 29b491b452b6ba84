"""How long deploys take, step by step, read from the audit log: per step the median, the 95th percentile
and the maximum over the last deploys and rollbacks that succeeded, the same for their whole wall time
(``duration_s``), the images those runs streamed over SSH (bytes sent and their rate), and the slowest
of them with its slowest step.

Pure functions of :class:`~shipflow.deploy.audit.AuditRecord` lists; reading the log is the caller's.
A record's step timings are ``extra.steps`` (step name -> seconds), its transfer ``extra.transfer_bytes``
and ``extra.transfer_rate_bps``; records written before shipflow kept them count for the wall time only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import median
from typing import TYPE_CHECKING, Any

from shipflow.figures import nearest_rank

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shipflow.deploy.audit import AuditRecord

RUN_ACTIONS = ("deploy", "rollback")
STEP_ORDER = (
    "build", "lock", "read state", "image", "aside", "env file", "migrate", "hook", "start", "front",
    "health", "switch", "verify", "drain", "stop old", "smoke", "prune",
)  # fmt: skip
"""The order a deploy runs its steps in (see bluegreen.py); the figures list steps in it, any other step
after them in the order the records first name it."""


@dataclass(frozen=True)
class Figures:
    """Seconds over ``count`` runs: the median, the 95th percentile and the maximum."""

    count: int
    median: float
    p95: float
    max: float


@dataclass(frozen=True)
class Slowest:
    """The run with the longest wall time, and its longest step (None when it recorded no steps)."""

    at: str
    action: str
    sha: str | None
    version: str | None
    seconds: float
    step: str | None = None
    step_s: float | None = None


@dataclass(frozen=True)
class Transfers:
    """The images ``count`` runs streamed to the host: the gzipped bytes sent (median, max) and the rate
    in bytes per second (median, and the slowest)."""

    count: int
    median_bytes: int
    max_bytes: int
    median_rate_bps: int
    min_rate_bps: int


@dataclass(frozen=True)
class TimingStats:
    """The figures of ``runs`` successful deploys and rollbacks; ``steps`` in the order a deploy runs them;
    ``transfer`` over the runs that streamed their image (None when none did)."""

    runs: int
    steps: dict[str, Figures]
    total: Figures | None
    slowest: Slowest | None
    transfer: Transfers | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def figures(values: Sequence[float]) -> Figures:
    """Count, median, p95 (nearest rank) and maximum of ``values`` (not empty), to the millisecond."""
    return Figures(
        len(values),
        round(median(values), 3),
        round(nearest_rank(values, 95), 3),
        round(max(values), 3),
    )


def step_seconds(record: AuditRecord) -> dict[str, float]:
    """The record's ``extra.steps``; empty for a record without them, entries that are not numbers skipped."""
    steps = record.extra.get("steps")
    if not isinstance(steps, dict):
        return {}
    return {
        str(name): float(seconds)
        for name, seconds in steps.items()
        if isinstance(seconds, int | float) and not isinstance(seconds, bool)
    }


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def transfers(runs: Sequence[AuditRecord]) -> Transfers | None:
    """What the runs that streamed their image over SSH sent, and how fast; None when none did (the
    image was already there, pulled from a registry, or the target is this machine)."""
    sent = [
        (size, rate)
        for run in runs
        if (size := _whole(run.extra.get("transfer_bytes"))) is not None
        and (rate := _whole(run.extra.get("transfer_rate_bps"))) is not None
    ]
    if not sent:
        return None
    sizes, rates = [size for size, _ in sent], [rate for _, rate in sent]
    return Transfers(len(sent), round(median(sizes)), max(sizes), round(median(rates)), min(rates))


def successful_runs(records: Sequence[AuditRecord], last: int) -> list[AuditRecord]:
    """The last ``last`` deploys and rollbacks whose result is ok (all of them when ``last`` is 0), oldest
    first; failed and refused runs, unlocks and removals are left out."""
    runs = [record for record in records if record.action in RUN_ACTIONS and record.result == "ok"]
    return runs[-last:] if last > 0 else runs


def _step_order(name: str, first_seen: dict[str, int]) -> tuple[int, int]:
    known = STEP_ORDER.index(name) if name in STEP_ORDER else len(STEP_ORDER)
    return known, first_seen[name]


def _slowest(runs: Sequence[AuditRecord]) -> Slowest | None:
    timed = [run for run in runs if run.duration_s is not None]
    if not timed:
        return None
    run = max(timed, key=lambda record: record.duration_s or 0.0)
    steps = step_seconds(run)
    step = max(steps, key=lambda name: steps[name]) if steps else None
    return Slowest(
        run.at, run.action, run.to_sha, run.version, run.duration_s or 0.0,
        step, round(steps[step], 3) if step else None,
    )  # fmt: skip


def deploy_stats(records: Sequence[AuditRecord], last: int = 20) -> TimingStats:
    """The timings of the last ``last`` successful deploys and rollbacks among ``records`` (oldest first).

    Each step's figures are over the runs that ran it (a rollback brings no image, a first deploy drains
    nothing), so each has its own count; the total is over every run's ``duration_s``.
    """
    runs = successful_runs(records, last)
    seconds: dict[str, list[float]] = {}
    for run in runs:
        for name, value in step_seconds(run).items():
            seconds.setdefault(name, []).append(value)
    first_seen = {name: index for index, name in enumerate(seconds)}
    ordered = sorted(seconds, key=lambda name: _step_order(name, first_seen))
    durations = [run.duration_s for run in runs if run.duration_s is not None]
    return TimingStats(
        runs=len(runs),
        steps={name: figures(seconds[name]) for name in ordered},
        total=figures(durations) if durations else None,
        slowest=_slowest(runs),
        transfer=transfers(runs),
    )
