"""Housekeeping on a host: clear a lock left by a crashed deploy, put a lost traffic rule back, take an
app down, put traffic back on the old release after a deploy killed during its canary or bake window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipflow.deploy import audit, baking, commands, lock, page, proxy, responder, traffic
from shipflow.deploy.state import read_state

if TYPE_CHECKING:
    from shipflow.deploy.context import Deployment


def unlock(d: Deployment) -> lock.Actor | None:
    """Remove the lock whoever holds it; returns the holder it removed (None when there was no lock)."""
    path = commands.lock_path(d.target)
    if d.host.read_file(path) is None:
        return None
    holder = lock.read_holder(d.host, path)
    lock.release(d.host, path)
    if not d.host.rehearses:
        removed = holder.describe() if holder else "an unknown holder"
        record = audit.new_record(
            "unlock", "ok", d.actor, d.target.environment, detail=f"removed lock of {removed}"
        )
        audit.append(d.host, commands.audit_log_path(d.target), record)
    return holder


def repair(d: Deployment) -> str:
    """Put back what the host lost (after a reboot or a firewall flush): the recorded NAT rule, or during
    maintenance the page's responder and the rule to it."""
    switch = traffic.read_switch(d.host, d.settings, d.target)
    if switch.maintenance is not None:
        what = f"the maintenance page (127.0.0.1:{d.target.maintenance_port})"
        slot = commands.slot_for_port(d.target, switch.maintenance.slot_port)
    elif switch.kind != "nat":
        return f"{d.host.name}: traffic moves by nginx reload here; there is no rule to repair"
    else:
        slot = commands.slot_for_port(d.target, switch.recorded_port or 0)
        if slot is None:
            return f"{d.host.name}: no traffic rule is recorded yet (the first deploy records one)"
        what = f"the traffic rule 127.0.0.1:{d.target.switch_port} -> {slot.name}"
    if not traffic.restore(d.host, d.settings, d.target, switch):
        return f"{d.host.name}: {what} is in place"
    if not d.host.rehearses:
        record = audit.new_record(
            "repair", "ok", d.actor, d.target.environment, slot=slot.name if slot else None,
            detail=f"restored {what}",
        )  # fmt: skip
        audit.append(d.host, commands.audit_log_path(d.target), record)
    return f"{d.host.name}: restored {what}"


def converge_interrupted(d: Deployment) -> str | None:
    """After a deploy killed during its canary steps or bake window (its bake record left, its lock's
    holder gone, or no lock), the old release serves again: under nat the recorded rule, which still names
    the old slot, is put back and the record goes (audited). None when there is nothing to converge, a
    live deploy holds the lock, or the switch is nginx's reload (reported by the status instead)."""
    found = baking.read_record(d)
    lock_file = commands.lock_path(d.target)
    if found is None or (d.host.read_file(lock_file) is not None and not _holder_gone(d, lock_file)):
        return None
    switch = traffic.read_switch(d.host, d.settings, d.target)
    if switch.kind != "nat" or switch.maintenance is not None:
        return None
    traffic.restore(d.host, d.settings, d.target, switch)
    d.run(commands.remove_file(baking.record_path(d.target)))
    what = "canary steps" if found.get("canary") else "bake window"
    sha = commands.short_sha(str(found.get("sha") or "") or None)
    old_slot = found.get("old_slot", "?")
    detail = f"a deploy was killed during the {what} of {sha}: traffic is back on {old_slot}"
    if not d.host.rehearses:
        record = audit.new_record("repair", "ok", d.actor, d.target.environment, detail=detail)
        audit.append(d.host, commands.audit_log_path(d.target), record)
    return f"{d.host.name}: {detail}"


def _holder_gone(d: Deployment, lock_file: str) -> bool:
    return lock.is_stale(lock.read_holder(d.host, lock_file))


def remove(d: Deployment) -> list[str]:
    """Stop and remove the app's containers and upstream file (and local nginx); images and audit stay."""
    state = read_state(d.host, d.settings, d.target)
    removed = []
    for name in [s.container for s in state.slots if s.exists] + sorted(state.asides):
        d.run(commands.remove_container(name))
        removed.append(name)
    if d.target.is_local and (d.host.rehearses or proxy.master_pid(d.host, d.target) is not None):
        d.run(commands.nginx_stop(d.target))
        removed.append("local nginx")
    if state.upstream_text is not None:
        d.run(commands.remove_file(d.target.upstream_path))
        removed.append(d.target.upstream_path)
    switch = traffic.read_switch(d.host, d.settings, d.target)
    if switch.maintenance is not None or page.running(d.host, d.target):
        page.stop(d.host, d.target)
        d.run(commands.remove_file(responder.record_path(d.target)))
        removed.append("the maintenance page")
    if switch.recorded_port is not None or switch.live_port is not None:
        traffic.remove_rules(d.host, d.settings, d.target, switch)
        removed.append("the NAT traffic rule")
    if not d.host.rehearses:
        active = state.active_state
        record = audit.new_record(
            "remove", "ok", d.actor, d.target.environment,
            from_sha=active.sha if active else None, detail=", ".join(removed),
        )  # fmt: skip
        audit.append(d.host, commands.audit_log_path(d.target), record)
    return removed
