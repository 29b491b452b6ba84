"""The truth on a host: which slot nginx routes to (the upstream file, and the NAT switch's record when
nginx routes through it) and what runs in each slot (container labels). Nothing here is cached between
steps: every read goes to the host."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipflow.deploy import commands, nat, responder
from shipflow.deploy.commands import LABEL_PREFIX, Slot
from shipflow.hosts.base import HostError

if TYPE_CHECKING:
    from shipflow.deploy.responder import MaintenanceRecord
    from shipflow.deploy.settings import DeploySettings, TargetSettings
    from shipflow.hosts.base import Host


@dataclass(frozen=True)
class SlotState:
    """A slot's container, if any, and the release its labels name."""

    slot: Slot
    container: str
    exists: bool = False
    running: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    image_id: str | None = None  # the id of the image the container was created from

    def label(self, key: str) -> str | None:
        return self.labels.get(f"{LABEL_PREFIX}{key}")

    @property
    def sha(self) -> str | None:
        return self.label("sha")

    @property
    def release(self) -> commands.Release | None:
        image, sha = self.label("image"), self.label("sha")
        if not (self.exists and image and sha):
            return None
        return commands.Release(image=image, sha=sha, version=self.label("version") or sha[:12])


@dataclass(frozen=True)
class HostState:
    """The active slot (None before the first switch) and both slots' containers."""

    active: Slot | None
    upstream_text: str | None
    slots: tuple[SlotState, SlotState]
    asides: frozenset[str] = frozenset()  # slots' containers set aside by a deploy that did not finish

    def of(self, slot: Slot) -> SlotState:
        return next(state for state in self.slots if state.slot == slot)

    @property
    def active_state(self) -> SlotState | None:
        return self.of(self.active) if self.active else None


def parse_inspect(stdout: str) -> dict[str, tuple[bool, dict[str, str], str | None]]:
    """Container name -> (running, labels, image id), from ``docker inspect`` JSON (missing names are
    absent)."""
    try:
        entries = json.loads(stdout or "[]")
    except ValueError:
        return {}
    found = {}
    for entry in entries:
        name = str(entry.get("Name", "")).lstrip("/")
        running = bool(entry.get("State", {}).get("Running"))
        image_id = entry.get("Image")
        labels = dict(entry.get("Config", {}).get("Labels") or {})
        found[name] = (running, labels, str(image_id) if image_id else None)
    return found


def routed_slot(host: Host, target: TargetSettings, upstream_text: str | None) -> Slot | None:
    """The slot nginx routes to: the one its include names, or, when the include names the NAT switch's
    port, the one the recorded switch rule sends that port to; when it names the maintenance page, the
    slot behind the page (its health path goes there; all traffic does when maintenance ends)."""
    port = commands.routed_port(upstream_text) if upstream_text else None
    if port is not None and port == target.switch_port:
        port = recorded_switch_port(host, target)
    elif port is not None and port == target.maintenance_port:
        on = read_maintenance(host, target)
        port = on.slot_port if on else None
    return commands.slot_for_port(target, port) if port is not None else None


def read_maintenance(host: Host, target: TargetSettings) -> MaintenanceRecord | None:
    """The maintenance record when maintenance is on (its file exists); an unreadable one is an error
    that names the file and the way out."""
    path = responder.record_path(target)
    raw = host.read_file(path)
    if raw is None:
        return None
    record = responder.parse_record(raw)
    if record is None:
        raise HostError(
            f"{host.name}: {path} (maintenance is on) cannot be read; end maintenance with "
            f"`inv deploy.maintenance --env {target.environment} off` and turn it on again if needed"
        )
    return record


def recorded_switch_port(host: Host, target: TargetSettings) -> int | None:
    """The slot port the NAT switch's record (``<state_dir>/switch.nft``) sends traffic to, if any."""
    record = host.read_file(commands.switch_record_path(target))
    return nat.routed_port(record.decode("utf-8", "replace"), target.switch_port) if record else None


def read_state(host: Host, settings: DeploySettings, target: TargetSettings) -> HostState:
    raw = host.read_file(target.upstream_path)
    upstream_text = raw.decode("utf-8", "replace") if raw is not None else None
    active = routed_slot(host, target, upstream_text)
    slots = commands.slots_of(target)
    names = [commands.container_name(settings, target, slot) for slot in slots]
    asides = [commands.aside_name(name) for name in names]
    found = parse_inspect(host.query(commands.inspect_containers(names + asides)).stdout)
    states = tuple(
        SlotState(slot, name, True, *found[name]) if name in found else SlotState(slot, name)
        for slot, name in zip(slots, names, strict=True)
    )
    return HostState(
        active=active,
        upstream_text=upstream_text,
        slots=(states[0], states[1]),
        asides=frozenset(name for name in asides if name in found),
    )
