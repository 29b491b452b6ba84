"""Which release a rollback goes to: the kept container of the other slot, a release named with ``--to``
(a tag or a sha prefix), or the last other release the audit log recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.deploy import audit, commands
from shipflow.deploy.commands import Release
from shipflow.deploy.context import DeployFailed

if TYPE_CHECKING:
    from shipflow.deploy.context import Deployment
    from shipflow.deploy.state import HostState, SlotState
    from shipflow.hosts.base import Host


def release_of_image(host: Host, reference: str) -> Release:
    """The release an image on ``host`` carries, from its OCI labels."""
    found = host.query(commands.image_labels(reference))
    if not found.ok:
        raise DeployFailed(
            f"image {reference} is not on {host.name}: build it first (`inv build`) or pick another with --to"
        )
    return Release.from_labels(reference, json.loads(found.stdout or "null") or {})


@dataclass(frozen=True)
class RollbackChoice:
    """The release to go back to, the slot it goes in, and whether its kept container is reused."""

    release: Release
    slot: commands.Slot
    reuse_container: bool
    labels: dict[str, str]  # the kept container's labels (empty when it starts from the image)


def _previous_from_audit(d: Deployment, current_sha: str | None) -> Release:
    for record in reversed(audit.read(d.host, commands.audit_log_path(d.target))):
        image = record.extra.get("image")
        other = record.to_sha is not None and record.to_sha != current_sha
        if record.result == "ok" and other and isinstance(image, str):
            return release_of_image(d.host, image)
    raise DeployFailed(
        f"no previous release of {d.target.environment} on {d.host.name} to roll back to; use --to"
    )


def image_for(host: Host, repository: str, wanted: str) -> str:
    """``repository:TAG`` for a tag (``v1.4.0``), a full sha, or a sha prefix naming exactly one tag."""
    tags = set(host.query(commands.image_tags(repository)).stdout.split())
    if wanted in tags:
        return f"{repository}:{wanted}"
    matches = sorted(tag for tag in tags if tag.startswith(wanted) and not tag.endswith("-dirty"))
    if len(matches) > 1:
        raise DeployFailed(f"--to {wanted} names several releases of {repository}: {', '.join(matches)}")
    return f"{repository}:{matches[0] if matches else wanted}"


def last_deploy_never_switched(d: Deployment, active: SlotState) -> bool:
    """Whether the host's last deploy or rollback failed while ``active`` kept serving (before its switch, or
    switched back when its bake window found it breached)."""
    records = audit.read(d.host, commands.audit_log_path(d.target))
    last = next((r for r in reversed(records) if r.action in ("deploy", "rollback")), None)
    return last is not None and last.result in ("failed", "reverted") and last.from_sha == active.sha


def choose_rollback(
    d: Deployment, state: HostState, to: str | None, repository: str | None
) -> RollbackChoice:
    """The kept release of the spare slot when it is the one wanted (instant), else an image on the host."""
    active = state.active_state
    spare_slot = commands.other_slot(d.target, active.slot) if active else commands.slots_of(d.target)[0]
    spare = state.of(spare_slot)
    kept = spare.release
    if kept is not None and (to is None or kept.sha.startswith(to) or kept.version == to):
        return RollbackChoice(kept, spare_slot, True, spare.labels)
    if to is not None:
        release = release_of_image(d.host, image_for(d.host, repository or d.settings.app, to))
    else:
        release = _previous_from_audit(d, active.sha if active else None)
    return RollbackChoice(release, spare_slot, False, {})
