"""The health gate: poll a candidate until it answers 200, quickly at first, then every interval."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.deploy import commands

if TYPE_CHECKING:
    from collections.abc import Iterator

    from shipflow.deploy.settings import HealthSettings
    from shipflow.hosts.base import Host

FAST_POLL = 0.1
FAST_PHASE = 3.0


def poll_delays(interval: float) -> Iterator[float]:
    """Delays between probes: every 0.1 s for the first 3 s (a ready service is seen within 0.2 s),
    then doubling up to ``interval``."""
    waited = 0.0
    while waited < FAST_PHASE:
        yield FAST_POLL
        waited += FAST_POLL
    delay = FAST_POLL
    while True:
        delay = min(delay * 2, interval)
        yield delay


@dataclass(frozen=True)
class HealthOutcome:
    """How a gate ended: passed or not, the last status and body seen, probes, seconds waited."""

    passed: bool
    status: int
    body: str
    probes: int
    seconds: float


def probe(host: Host, url: str, timeout: float) -> tuple[int, str]:
    return commands.parse_probe(host.query(commands.http_probe(url, timeout)).stdout)


def wait_healthy(
    host: Host, url: str, health: HealthSettings, *, deadline: float | None = None
) -> HealthOutcome:
    """Probe ``url`` on ``host`` until 200 or ``health.deploy_timeout`` seconds have passed."""
    started = time.monotonic()
    stop_at = deadline if deadline is not None else started + health.deploy_timeout
    for probes, delay in enumerate(poll_delays(health.interval), start=1):
        status, body = probe(host, url, health.timeout)
        if status == 200:
            return HealthOutcome(True, status, body, probes, time.monotonic() - started)
        if time.monotonic() + delay >= stop_at:
            return HealthOutcome(False, status, body, probes, time.monotonic() - started)
        time.sleep(delay)
    raise AssertionError("poll_delays never ends")  # pragma: no cover
