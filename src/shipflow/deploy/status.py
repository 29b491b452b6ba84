"""What a person asks before and after a deploy, read from the host: the active slot, each slot's release and
health, the lock holder and the last releases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.deploy import audit, baking, commands, health, lock, page, traffic
from shipflow.deploy.state import read_state

if TYPE_CHECKING:
    from shipflow.deploy.context import Deployment
    from shipflow.deploy.state import SlotState


@dataclass(frozen=True)
class SlotReport:
    slot: str
    port: int
    container: str
    state: str  # running | stopping | stopped | absent
    sha: str | None
    version: str | None
    deployed_at: str | None
    deployed_by: str | None
    health: int | None  # HTTP status of the health probe, 0 when nothing answered


@dataclass(frozen=True)
class StatusReport:
    environment: str
    host: str
    url: str
    active_slot: str | None
    release: SlotReport | None
    slots: list[SlotReport]
    lock: dict[str, object] | None
    last_releases: list[dict[str, str | None]]
    switch: dict[str, object] | None = None
    bake: dict[str, object] | None = None  # a release baking now, or a bake a killed deploy left


def switch_report(d: Deployment) -> dict[str, object]:
    """How traffic moves on the host and, for nat, where the kernel's rule and the record send it."""
    try:
        state = traffic.read_switch(d.host, d.settings, d.target)
    except traffic.NatNotPermitted as refusal:
        return {"kind": "nat", "problem": str(refusal)}

    def slot_name(port: int | None) -> str | None:
        if port is not None and port == d.target.maintenance_port:
            return "the maintenance page"
        slot = commands.slot_for_port(d.target, port) if port is not None else None
        return slot.name if slot else None

    report: dict[str, object] = {"kind": state.kind}
    if state.kind == "nat":
        report.update(
            port=d.target.switch_port,
            live_slot=slot_name(state.live_port),
            recorded_slot=slot_name(state.recorded_port),
        )
        if state.rule_missing:
            report["problem"] = (
                f"the kernel has lost the traffic rule to {slot_name(state.rule_port)}: run "
                f"`inv deploy.repair --env {d.target.environment}` (a deploy or rollback also restores it)"
            )
    if state.warning:
        report["warning"] = state.warning
    if state.maintenance is not None:
        on = state.maintenance
        report["maintenance"] = {
            "since": on.since,
            "by": on.by,
            "message": on.message,
            "retry_after": on.retry_after,
            "page_running": page.running(d.host, d.target),
        }
    return report


def _container_state(slot: SlotState, stopping: list[str]) -> str:
    """running | stopping (a deploy stops it in the background) | stopped | absent."""
    if slot.running:
        return "stopping" if slot.container in stopping else "running"
    return "stopped" if slot.exists else "absent"


def status(d: Deployment, *, last: int = 5) -> StatusReport:
    """Everything a person asks before and after a deploy, read from the host."""
    host, settings, target = d.host, d.settings, d.target
    state = read_state(host, settings, target)
    stopping = (host.read_file(commands.stopping_record_path(target)) or b"").decode("utf-8", "replace")
    reports = []
    for slot_state in state.slots:
        probed = None
        if slot_state.running:
            url = f"http://127.0.0.1:{slot_state.slot.port}{settings.health.path}"
            probed = health.probe(host, url, min(settings.health.timeout, 2.0))[0]
        reports.append(
            SlotReport(
                slot=slot_state.slot.name,
                port=slot_state.slot.port,
                container=slot_state.container,
                state=_container_state(slot_state, stopping.split()),
                sha=slot_state.sha,
                version=slot_state.label("version"),
                deployed_at=slot_state.label("deployed_at"),
                deployed_by=slot_state.label("deployed_by"),
                health=probed,
            )
        )
    raw_lock = host.read_file(commands.lock_path(target))
    lock_info: dict[str, object] | None = None
    if raw_lock is not None:
        holder = lock.holder_of(raw_lock)
        lock_info = {"holder": holder.describe() if holder else "unknown", "stale": lock.is_stale(holder)}
    records = audit.read(host, commands.audit_log_path(target))
    releases = [
        {"at": r.at, "action": r.action, "sha": r.to_sha, "version": r.version, "by": r.by, "slot": r.slot}
        for r in records
        if r.result == "ok" and r.action in ("deploy", "rollback") and r.to_sha
    ][-last:]
    active = next((r for r in reports if state.active and r.slot == state.active.name), None)
    switch, baking_now = switch_report(d), _bake_report(d, lock_info)
    if baking_now and baking_now["state"] == "in progress":
        switch.pop("problem", None)  # the kernel's rule names the baking slot, the record the old one
    return StatusReport(
        environment=target.environment,
        host=host.name,
        url=target.public_url,
        active_slot=state.active.name if state.active else None,
        release=active,
        slots=reports,
        lock=lock_info,
        last_releases=releases,
        switch=switch,
        bake=baking_now,
    )


def _bake_report(d: Deployment, lock_info: dict[str, object] | None) -> dict[str, object] | None:
    """The release baking now (its deploy holds the lock), or a bake whose deploy was killed."""
    found = baking.read_record(d)
    if found is None:
        return None
    alive = lock_info is not None and not lock_info["stale"]
    return {**found, "state": "in progress" if alive else "interrupted"}
