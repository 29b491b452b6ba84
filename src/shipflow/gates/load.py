"""``inv gate.load``: Locust, headless, against a deployed environment, held to thresholds.

Locust runs as a child process (``python -m locust --headless``) with the project's locustfile, so it is
imported only there: shipflow itself never imports it (it is the optional extra ``shipflow[gates]``).
While it runs, a progress line every few seconds comes from the stats table Locust prints; when it
ends, the figures come from its final stats (``--json-file``) and are held to the thresholds of
``[tool.shipflow.gates.load]``. Reports land in ``reports/``: Locust's HTML report and
CSV files, and the gate's outcome as JSON.
"""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipflow.errors import BadInput, Failed
from shipflow.gates.outcome import GateOutcome, utc_now

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from shipflow.gates.locust_report import LoadFigures, Progress
    from shipflow.gates.settings import LoadSettings
    from shipflow.gates.target import GateTarget

GATE = "load"
REPORTS = "reports"
PROGRESS_EVERY = 3.0
"""Seconds between progress lines (Locust prints its stats table every 2 s)."""
LOG_TAIL = 15


class LocustMissing(BadInput):
    """Locust is not installed in the interpreter shipflow runs in."""


class LocustfileMissing(BadInput):
    """The locustfile the settings (or ``--locustfile``) name does not exist."""


class LoadRunFailed(Failed):
    """Locust itself failed (a broken locustfile, a crash): no figures to judge."""


class ThresholdsBroken(Failed):
    """The run's figures broke one or more thresholds."""


@dataclass(frozen=True)
class LoadReports:
    """The files of one load run, relative to the project root."""

    stem: str

    @property
    def html(self) -> str:
        return f"{REPORTS}/{self.stem}.html"

    @property
    def outcome(self) -> str:
        """The gate's outcome as JSON (what was asked, measured and decided)."""
        return f"{REPORTS}/{self.stem}.json"

    @property
    def stats_prefix(self) -> str:
        """Locust's ``--json-file`` argument; Locust adds ``.json``."""
        return f"{REPORTS}/{self.stem}-stats"

    @property
    def csv_prefix(self) -> str:
        return f"{REPORTS}/{self.stem}"

    @property
    def log(self) -> str:
        return f"{REPORTS}/{self.stem}.log"

    @property
    def locust_files(self) -> tuple[str, ...]:
        """Every file Locust writes (removed before a run, so no figure comes from an earlier one)."""
        csvs = ("stats", "stats_history", "failures", "exceptions")
        return (self.html, f"{self.stats_prefix}.json", *(f"{self.csv_prefix}_{name}.csv" for name in csvs))


def locust_argv(python: str, url: str, settings: LoadSettings, reports: LoadReports) -> list[str]:
    """The Locust command line: headless, the settings' load for ``run_time`` seconds, every report file;
    failed requests are judged by the thresholds, not by Locust's exit code."""
    return [
        python, "-m", "locust", "--locustfile", settings.locustfile, "--headless", "--host", url,
        "--users", str(settings.users), "--spawn-rate", f"{settings.spawn_rate:g}",
        "--run-time", f"{settings.run_time}s", "--stop-timeout", "0",
        "--exit-code-on-error", "0", "--csv", reports.csv_prefix, "--json-file", reports.stats_prefix,
        "--html", reports.html, "--loglevel", "WARNING",
    ]  # fmt: skip


def progress_line(elapsed: float, progress: Progress) -> str:
    """``  10s  requests 2,412  failures 0  rps now 241.0``."""
    return (
        f"  {elapsed:4.0f}s  requests {progress.requests:,}  failures {progress.failures:,}  "
        f"rps now {progress.current_rps:.1f}"
    )


def figures_line(figures: LoadFigures, settings: LoadSettings, wall_s: float) -> str:
    """The run's figures in one line, with how long load was sent against what was asked."""
    return (
        f"{figures.requests:,} requests, {figures.failures:,} failures ({figures.fail_ratio * 100:.2f}%), "
        f"p50 {figures.p50_ms:g} ms, p95 {figures.p95_ms:g} ms, p99 {figures.p99_ms:g} ms, "
        f"{figures.rps:.1f} requests/s; load sent for {figures.duration_s:.1f}s of {settings.run_time}s "
        f"asked (Locust ran {wall_s:.1f}s in all)"
    )


def require_locust() -> None:
    """Refuse before anything runs when Locust is missing."""
    if importlib.util.find_spec("locust") is None:
        raise LocustMissing(
            "Locust is not installed here; install the gates extra: pip install 'shipflow[gates]'"
        )


def _tail(path: Path) -> str:
    if not path.is_file():
        return "(no output)"
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL:]
    return "\n".join(f"  | {line}" for line in lines) or "(no output)"


def run_locust(
    argv: list[str],
    root: Path,
    reports: LoadReports,
    *,
    environ: Mapping[str, str],
    on_line: Callable[[str], None],
) -> float:
    """Run Locust and return its wall time. Its output goes to the log file; the stats table it prints every
    2 seconds becomes a progress line every :data:`PROGRESS_EVERY` seconds. The log's last lines are shown
    only when Locust fails."""
    from shipflow.gates.child import run_streaming
    from shipflow.gates.locust_report import progress_of

    started = time.monotonic()
    shown_at = started

    def seen(text: str) -> None:
        nonlocal shown_at
        log.write(text + "\n")
        progress = progress_of(text)
        now = time.monotonic()
        if progress is not None and now - shown_at >= PROGRESS_EVERY:
            on_line(progress_line(now - started, progress))
            shown_at = now

    with (root / reports.log).open("w", encoding="utf-8") as log:
        code = run_streaming(argv, cwd=root, env=environ, on_line=seen)
    wall = time.monotonic() - started
    if code != 0:
        raise LoadRunFailed(
            f"locust exited {code}; its last lines ({reports.log}):\n{_tail(root / reports.log)}"
        )
    return wall


def require_ready(target: GateTarget, settings: LoadSettings) -> None:
    """Refuse before any load is sent: Locust missing or the locustfile absent (bad input), or nothing
    answering at the environment's URL (failed)."""
    from shipflow.gates.target import require_answer

    require_locust()
    if not (target.root / settings.locustfile).is_file():
        raise LocustfileMissing(
            f"{settings.locustfile}: no such locustfile under {target.root}; set locustfile in "
            "[tool.shipflow.gates.load] of pyproject.toml, or give --locustfile"
        )
    require_answer(target, "gate.load")


def read_figures(root: Path, reports: LoadReports) -> LoadFigures:
    """The figures of Locust's final stats file; :class:`LoadRunFailed` when it is missing or unreadable."""
    from shipflow.gates.locust_report import UnreadableReport, figures_from_stats

    stats = root / f"{reports.stats_prefix}.json"
    try:
        return figures_from_stats(stats.read_text(encoding="utf-8"))
    except (OSError, UnreadableReport) as error:
        raise LoadRunFailed(f"{stats.name}: Locust's stats cannot be read ({error})") from None


def judged(
    target: GateTarget,
    settings: LoadSettings,
    figures: LoadFigures,
    *,
    started: datetime,
    finished: datetime,
    wall_s: float,
) -> GateOutcome:
    """The outcome of a run: its figures (and the load asked) held to the settings' thresholds."""
    from shipflow.gates.thresholds import load_checks

    checks = load_checks(figures, settings)
    reports = LoadReports(target.report_name(GATE))
    asked = {"users": settings.users, "spawn_rate": settings.spawn_rate, "run_time_s": settings.run_time}
    return GateOutcome(
        gate=GATE,
        environment=target.environment,
        url=target.url,
        passed=all(check.passed for check in checks),
        started=started,
        finished=finished,
        figures={**figures.as_figures(), "wall_s": round(wall_s, 2), **asked},
        thresholds=checks,
        reports=(reports.html, reports.outcome),
    )


def run_load_gate(
    target: GateTarget, settings: LoadSettings, *, environ: Mapping[str, str], on_line: Callable[[str], None]
) -> GateOutcome:
    """Send the settings' load to ``target`` with Locust and judge it; the outcome is also written to
    ``reports/load-<env>.json``. Every line passes through the environment's mask."""
    import sys

    def line(text: str) -> None:
        on_line(target.mask(text))

    require_ready(target, settings)
    reports = LoadReports(target.report_name(GATE))
    (target.root / REPORTS).mkdir(exist_ok=True)
    for relative in (*reports.locust_files, reports.outcome):
        (target.root / relative).unlink(missing_ok=True)
    line(
        f"gate.load: {settings.users} users (spawning {settings.spawn_rate:g}/s) for {settings.run_time}s "
        f"against {target.environment} at {target.url}, with {settings.locustfile}"
    )
    started = utc_now()
    argv = locust_argv(sys.executable, target.url, settings, reports)
    wall = run_locust(argv, target.root, reports, environ=environ, on_line=line)
    figures = read_figures(target.root, reports)
    outcome = judged(target, settings, figures, started=started, finished=utc_now(), wall_s=wall)
    text = json.dumps(outcome.as_json(), indent=2) + "\n"
    (target.root / reports.outcome).write_text(text, encoding="utf-8")
    line(figures_line(figures, settings, wall))
    for check in outcome.thresholds:
        line(f"  {check.line}")
    line(f"reports: {reports.html}, {reports.outcome} (Locust's CSV files beside them)")
    return outcome


def verdict(outcome: GateOutcome) -> str:
    """The gate's last line when it passed; :class:`ThresholdsBroken` naming each broken one otherwise."""
    from shipflow.gates.thresholds import broken

    failed = broken(outcome.thresholds)
    if failed:
        raise ThresholdsBroken(
            f"{outcome.environment}: {len(failed)} threshold(s) broken: "
            + ", ".join(check.broken for check in failed)
        )
    return f"gate.load {outcome.environment}: passed, every threshold met"
