"""Thresholds a gate's figures are held to, evaluated by pure functions.

A :class:`Check` is one threshold with the figure measured against it: ``p95 212 ms <= 300 ms  ok``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipflow.gates.locust_report import LoadFigures
    from shipflow.gates.settings import LoadSettings

OK, BROKEN = "ok", "BROKEN"


def number(value: float) -> str:
    """A figure as a person reads it: whole numbers without decimals, others with up to 3 significant
    decimals (``212``, ``0.001``, ``245.3``)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"


@dataclass(frozen=True)
class Check:
    """One threshold: ``figure`` against ``limit``, at most (``<=``) or at least (``>=``).

    ``setting`` is the key in ``[tool.shipflow.gates.load]`` (and the flag) that set the limit."""

    setting: str
    label: str
    figure: float
    limit: float
    at_most: bool
    unit: str = ""

    @property
    def passed(self) -> bool:
        return self.figure <= self.limit if self.at_most else self.figure >= self.limit

    def _value(self, value: float) -> str:
        if self.unit == "%":
            return f"{value * 100:.2f}%"
        return f"{number(value)} {self.unit}".rstrip()

    @property
    def line(self) -> str:
        """``p95 212 ms <= 300 ms  ok`` (``BROKEN`` when the figure is past the limit)."""
        sign = "<=" if self.at_most else ">="
        status = OK if self.passed else BROKEN
        return f"{self.label} {self._value(self.figure)} {sign} {self._value(self.limit)}  {status}"

    @property
    def broken(self) -> str:
        """How a broken threshold is named in the gate's last line: ``max_p95_ms (p95 412 ms > 300 ms)``."""
        sign = ">" if self.at_most else "<"
        return f"{self.setting} ({self.label} {self._value(self.figure)} {sign} {self._value(self.limit)})"

    def as_json(self) -> dict[str, object]:
        return {
            "setting": self.setting,
            "figure": self.figure,
            "limit": self.limit,
            "comparison": "<=" if self.at_most else ">=",
            "passed": self.passed,
        }


def load_checks(figures: LoadFigures, settings: LoadSettings) -> tuple[Check, ...]:
    """The load gate's thresholds against a run's figures, one :class:`Check` each; a run that made no
    request breaks a threshold of its own (nothing was measured)."""
    checks = (
        Check("max_p95_ms", "p95", figures.p95_ms, settings.max_p95_ms, at_most=True, unit="ms"),
        Check(
            "max_fail_ratio", "failures", figures.fail_ratio, settings.max_fail_ratio, at_most=True, unit="%"
        ),
        Check("min_rps", "rps", figures.rps, settings.min_rps, at_most=False),
    )
    if figures.requests == 0:
        return (Check("requests", "requests", 0, 1, at_most=False), *checks)
    return checks


def broken(checks: tuple[Check, ...]) -> tuple[Check, ...]:
    """The checks whose figure is past its limit."""
    return tuple(check for check in checks if not check.passed)
