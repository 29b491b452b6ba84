"""What a gate run gives back: the gate, where it ran, its thresholds and figures, whether it passed, when.

Plain data, so that the outcome can be printed, written to ``reports/`` and recorded beside the release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from shipflow.gates.thresholds import Check


def utc_now() -> datetime:
    """Now, in UTC (the zone every gate time is given in)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class GateOutcome:
    """One gate run against one environment.

    ``thresholds`` are the checks the figures were held to (none for a gate whose verdict is its tests'),
    ``figures`` what was measured (names to numbers), ``reports`` the files written, relative to the
    project root."""

    gate: str
    environment: str
    url: str
    passed: bool
    started: datetime
    finished: datetime
    figures: Mapping[str, float] = field(default_factory=dict)
    thresholds: tuple[Check, ...] = ()
    reports: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return (self.finished - self.started).total_seconds()

    def as_json(self) -> dict[str, Any]:
        """The outcome as a JSON object (times in ISO 8601, UTC)."""
        return {
            "gate": self.gate,
            "environment": self.environment,
            "url": self.url,
            "passed": self.passed,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "thresholds": [check.as_json() for check in self.thresholds],
            "figures": dict(self.figures),
            "reports": list(self.reports),
        }
