"""How deploy results read to a person: plain text lines from the engine's data."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shipflow.deploy.audit import AuditRecord
    from shipflow.deploy.bluegreen import Outcome
    from shipflow.deploy.lock import Actor
    from shipflow.deploy.settings import TargetSettings
    from shipflow.deploy.status import StatusReport
    from shipflow.deploy.timings import Figures, Slowest, TimingStats, Transfers


def _sha(sha: str | None) -> str:
    return (sha or "-")[:12]


def outcome_line(outcome: Outcome, target: TargetSettings, *, rehearsal: bool = False) -> str:
    if rehearsal:
        return (
            f"dry run: {outcome.action} of {outcome.release.version} ({_sha(outcome.release.sha)}) to slot "
            f"{outcome.slot.name} on {target.name} planned above; nothing was changed"
        )
    if not outcome.changed:
        verb = "already serving"
    else:
        verb = "deployed" if outcome.action == "deploy" else "rolled back to"
    cutover = f", cutover {outcome.cutover_s * 1000:.0f} ms" if outcome.cutover_s is not None else ""
    return (
        f"{verb} {outcome.release.version} ({_sha(outcome.release.sha)}) in slot {outcome.slot.name} "
        f"on {target.name} in {outcome.seconds:.1f}s{cutover}: {target.public_url}"
    )


def status_lines(report: StatusReport) -> list[str]:
    lines = [
        f"{report.environment} on {report.host}: {report.url}",
        f"active slot: {report.active_slot or 'none (never deployed)'}",
    ]
    for slot in report.slots:
        health = "-" if slot.health is None else ("no answer" if slot.health == 0 else str(slot.health))
        release = f"{slot.version} ({_sha(slot.sha)})" if slot.sha else "-"
        mark = "*" if slot.slot == report.active_slot else " "
        when = f"{slot.deployed_at or ''} {slot.deployed_by or ''}".strip()
        lines.append(
            f" {mark} {slot.slot:<6} 127.0.0.1:{slot.port:<5} {slot.state:<8} {release:<28} "
            f"health {health:<9} {when}".rstrip()
        )
    lines.extend(_switch_lines(report.switch, report.environment))
    lines.extend(_bake_lines(report.bake, report.environment))
    if report.lock:
        lines.append(f"lock: {report.lock['holder']}{' (stale)' if report.lock['stale'] else ''}")
    else:
        lines.append("lock: free")
    lines.append("last releases:" if report.last_releases else "last releases: none")
    for entry in reversed(report.last_releases):
        release = f"{entry['version']} ({_sha(entry['sha'])})"
        lines.append(f"  {entry['at']}  {entry['action']:<8} {release} by {entry['by']}")
    return lines


def _bake_lines(baking: dict[str, object] | None, environment: str) -> list[str]:
    if not baking:
        return []
    sha = _sha(str(baking.get("sha") or "") or None)
    steps = baking.get("canary")
    if baking.get("state") == "in progress" and isinstance(steps, list):
        shares = ", ".join(f"{percent}%" for percent in steps)
        return [
            f"canary: {sha} in {baking.get('slot')} since {baking.get('since')} (steps {shares}); "
            f"{baking.get('old_slot')} serves the rest"
        ]
    if baking.get("state") == "in progress":
        return [
            f"bake: {sha} in {baking.get('slot')} since {baking.get('since')} (window "
            f"{baking.get('window_s')} s); {baking.get('old_slot')} keeps running until it passes"
        ]
    what = "canary" if isinstance(steps, list) else "bake"
    return [
        f"{what}: interrupted: a deploy was killed while {sha} baked in {baking.get('slot')}; "
        f"`inv deploy.repair --env {environment}` or the next deploy puts traffic back on "
        f"{baking.get('old_slot')}"
    ]


def _switch_lines(switch: dict[str, object] | None, environment: str) -> list[str]:
    if not switch:
        return []
    line = f"switch: {switch['kind']}"
    if switch["kind"] == "nat" and "port" in switch:
        line = f"switch: nat 127.0.0.1:{switch['port']} -> {switch.get('live_slot') or 'no rule'}"
        if not switch.get("recorded_slot"):
            line = f"switch: nat 127.0.0.1:{switch['port']}, no rule yet (the first deploy sets it)"
    extra = [f"  {key}: {switch[key]}" for key in ("problem", "warning") if key in switch]
    return [line, *extra, *_maintenance_lines(switch.get("maintenance"), environment)]


def _maintenance_lines(on: object, environment: str) -> list[str]:
    if not isinstance(on, dict):
        return []
    lines = [
        f"maintenance: ON since {on['since']} by {on['by']} (503, Retry-After {on['retry_after']} s): "
        f"{on['message']}"
    ]
    if not on.get("page_running"):
        lines.append(
            "  problem: the maintenance page is not running (nginx in front answers 502): "
            f"run `inv deploy.repair --env {environment}` to start it"
        )
    return lines


def audit_line(record: AuditRecord) -> str:
    change = f"{_sha(record.from_sha)} -> {_sha(record.to_sha)}"
    took = f"{record.duration_s:.1f}s" if record.duration_s is not None else ""
    return (
        f"{record.at}  {record.action:<8} {record.result:<7} {change:<28} {record.slot or '-':<6} "
        f"{took:>7}  {record.by}  {record.detail}"
    ).rstrip()


def audit_lines(records: Sequence[AuditRecord], *, json: bool, heading: str | None) -> list[str]:
    """A host's records, one line each (or one JSON object each), under ``== host`` when several."""
    if json:
        return [record.to_json() for record in records]
    lines = [f"== {heading}"] if heading else []
    lines += [line for record in records for line in (audit_line(record), *watched_lines(record))] or [
        "no audit records yet"
    ]
    return lines


def watched_lines(record: AuditRecord) -> list[str]:
    """Under a deploy's line, what its canary steps and bake window measured, one line each."""
    from shipflow.deploy.bake import Figures, Verdict, line

    def figures(found: object) -> Figures | None:
        if not isinstance(found, dict):
            return None
        return Figures(int(found.get("requests", 0)), int(found.get("errors", 0)), found.get("p95_ms"))

    def shown(label: str, watched: dict[str, Any], old_key: str, old_label: str) -> str:
        breach = watched.get("breach")
        verdict = Verdict(bool(breach), str(breach or ""))
        new = figures(watched.get("new")) or Figures()
        seconds = float(watched.get("watched_s") or 0)
        return "    " + line(label, seconds, new, figures(watched.get(old_key)), verdict, old_label).strip()

    steps = record.extra.get("canary")
    found = [
        shown(f"canary {step.get('percent')}%", step, "old", "old")
        for step in (steps if isinstance(steps, list) else [])
        if isinstance(step, dict)
    ]
    baked = record.extra.get("bake")
    if isinstance(baked, dict):
        found.append(shown("bake", baked, "baseline", "before"))
    return found


def _figures_line(name: str, figures: Figures) -> str:
    seconds = "".join(f"{value:>10.3f}" for value in (figures.median, figures.p95, figures.max))
    return f"  {name:<14} {figures.count:>4}{seconds}"


def _slowest_line(slowest: Slowest) -> str:
    release = f"{'of' if slowest.action == 'deploy' else 'to'} {slowest.version or '-'} ({_sha(slowest.sha)})"
    step = f"; its slowest step: {slowest.step} {slowest.step_s:.3f}s" if slowest.step else ""
    return f"slowest: {slowest.action} {release} at {slowest.at}, {slowest.seconds:.3f}s{step}"


def _transfer_line(sent: Transfers) -> str:
    from shipflow.deploy.transfer import human_bytes

    return (
        f"transfer: {sent.count} image(s) streamed over ssh: median {human_bytes(sent.median_bytes)} at "
        f"{human_bytes(sent.median_rate_bps)}/s (largest {human_bytes(sent.max_bytes)}, slowest "
        f"{human_bytes(sent.min_rate_bps)}/s)"
    )


def _stats_json(stats: TimingStats, heading: str | None) -> str:
    shown = stats.as_dict()
    return json.dumps({"host": heading, **shown} if heading else shown)


def stats_lines(stats: TimingStats, *, json: bool, heading: str | None) -> list[str]:
    """The timings of a host's last successful deploys and rollbacks: a line per step (count, median,
    p95, max, in seconds), the total the same way, the images streamed over SSH (bytes and rate), and the
    slowest run; with ``json`` one object (naming the host when there are several)."""
    if json:
        return [_stats_json(stats, heading)]
    lines = [f"== {heading}"] if heading else []
    if stats.runs == 0:
        return [*lines, "no deploy or rollback has succeeded here yet: no timings to show"]
    lines += [
        f"timings of the last {stats.runs} successful deploys and rollbacks, in seconds "
        "(p95 by nearest rank):",
        f"  {'step':<14} {'runs':>4}{'median':>10}{'p95':>10}{'max':>10}",
    ]
    lines += [_figures_line(name, figures) for name, figures in stats.steps.items()]
    if not stats.steps:
        lines.append("  (no step timings: these records were written before shipflow kept them)")
    if stats.total is not None:
        lines.append(_figures_line("total", stats.total))
    if stats.transfer is not None:
        lines.append(_transfer_line(stats.transfer))
    if stats.slowest is not None:
        lines.append(_slowest_line(stats.slowest))
    return lines


def status_json(reports: Sequence[StatusReport]) -> str:
    """One host's report as a JSON object, several as a list."""
    shown = asdict(reports[0]) if len(reports) == 1 else [asdict(report) for report in reports]
    return json.dumps(shown, indent=2)


def removed_line(host: str, removed: Sequence[str], *, several: bool) -> str:
    where = f" on {host}" if several else ""
    return f"removed{where}: {', '.join(removed) or 'nothing was deployed'}"


def unlocked_line(host: str, holder: Actor | None, *, several: bool) -> str:
    where = f"{host}: " if several else ""
    return (
        f"{where}unlocked: removed the lock of {holder.describe()}" if holder else f"{where}no lock to remove"
    )
