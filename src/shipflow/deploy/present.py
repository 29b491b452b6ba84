"""How deploy results read to a person: plain text lines from the engine's data."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipflow.deploy.audit import AuditRecord
    from shipflow.deploy.engine import Outcome, StatusReport
    from shipflow.deploy.settings import TargetSettings


def _sha(sha: str | None) -> str:
    return (sha or "-")[:12]


def outcome_line(outcome: Outcome, target: TargetSettings) -> str:
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
    if report.lock:
        lines.append(f"lock: {report.lock['holder']}{' (stale)' if report.lock['stale'] else ''}")
    else:
        lines.append("lock: free")
    lines.append("last releases:" if report.last_releases else "last releases: none")
    for entry in reversed(report.last_releases):
        release = f"{entry['version']} ({_sha(entry['sha'])})"
        lines.append(f"  {entry['at']}  {entry['action']:<8} {release} by {entry['by']}")
    return lines


def audit_line(record: AuditRecord) -> str:
    change = f"{_sha(record.from_sha)} -> {_sha(record.to_sha)}"
    took = f"{record.duration_s:.1f}s" if record.duration_s is not None else ""
    return (
        f"{record.at}  {record.action:<8} {record.result:<7} {change:<28} {record.slot or '-':<6} "
        f"{took:>7}  {record.by}  {record.detail}"
    ).rstrip()
