"""Moving traffic between the slots on one host, the two ways a target can choose.

``switch = "nat"``: nginx routes to a stable ``127.0.0.1:<switch_port>`` and a DNAT rule moves new
connections to the live slot (:mod:`shipflow.deploy.nat`); nginx is reloaded only when its include itself
changes, so clients' keep-alive connections survive every deploy. ``switch = "reload"``: the upstream
include names the slot and nginx reloads (:mod:`shipflow.deploy.proxy`). Unset: nat where the host lets
shipflow change its NAT table (root, or passwordless sudo for nft), else reload with a warning.

The live slot is recorded on the host (``<state_dir>/switch.nft``, the rule set itself), so a rule lost to a
reboot or a firewall flush is put back from it by the next deploy, rollback or ``deploy.repair``.

Maintenance (:mod:`shipflow.deploy.maintenance`) routes the front to the maintenance page's responder the
same way: the rule (or the include) names ``maintenance_port``. A deploy during maintenance then moves only
the page's health path to the new slot; the record keeps naming the slot that serves when it ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from shipflow.deploy import commands, nat, page, proxy, responder
from shipflow.deploy.state import read_maintenance, recorded_switch_port
from shipflow.errors import Refused

if TYPE_CHECKING:
    from collections.abc import Callable

    from shipflow.deploy.commands import Slot
    from shipflow.deploy.responder import MaintenanceRecord
    from shipflow.deploy.settings import DeploySettings, TargetSettings
    from shipflow.hosts.base import Host

SUDO = ("sudo", "-n")
LIST_ATTEMPTS = 4
NO_CHAIN = "No such file or directory"
"""What nft says when the chain it is asked to list does not exist (nft ran, with the right to)."""


if TYPE_CHECKING:
    Weigh = Callable[[int], None]
    """Send that percentage of traffic to the new slot (a canary step), the rest to the old one."""


class NatNotPermitted(Refused):
    """``switch = "nat"`` on a host where shipflow may not change the NAT table."""


@dataclass(frozen=True)
class SwitchState:
    """How traffic moves on a host, and where the recorded and the kernel's rule send it (nat only)."""

    kind: str  # "nat" | "reload"
    sudo: tuple[str, ...] = ()
    recorded_port: int | None = None  # the slot port in <state_dir>/switch.nft
    live_port: int | None = None  # the slot port of the rule the kernel holds now
    warning: str | None = None
    maintenance: MaintenanceRecord | None = None  # maintenance is on: the front routes to its page
    page_port: int | None = None  # where the page's responder listens (maintenance_port)

    @property
    def rule_port(self) -> int | None:
        """Where the kernel's rule should send the switch's port: the page during maintenance, else the
        recorded slot."""
        return self.page_port if self.maintenance else self.recorded_port

    @property
    def rule_missing(self) -> bool:
        """A rule the kernel should hold and does not (a reboot, a firewall flush, a killed switch)."""
        return self.kind == "nat" and self.rule_port is not None and self.live_port != self.rule_port


@dataclass(frozen=True)
class Switched:
    """A done switch and what undoes it: the rule set it replaced and the one it applied (nat), or the
    upstream text it replaced and the nginx workers that served before the reload (reload)."""

    kind: str
    previous_rules: str | None
    rules: str | None
    previous_upstream: str | None
    old_workers: tuple[int, ...]
    page: tuple[MaintenanceRecord, MaintenanceRecord] | None = None  # during maintenance: before, after


def _nat_rights(host: Host) -> tuple[str, ...] | None:
    """The prefix nft needs on ``host`` (none as root, ``sudo -n`` otherwise), or None when neither works."""
    for sudo in ((), SUDO):
        if host.query(nat.can_use(sudo)).ok:
            return sudo
    return None


def read_switch(host: Host, settings: DeploySettings, target: TargetSettings) -> SwitchState:
    """Which switch this target uses on ``host`` and, for nat, the recorded and the live rule.

    Raises :class:`NatNotPermitted` when ``switch = "nat"`` is asked for and the host does not permit it.
    """
    recorded = recorded_switch_port(host, target)
    on = read_maintenance(host, target)
    page_port = target.maintenance_port if on else None
    if target.switch == "reload":
        return SwitchState("reload", recorded_port=recorded, maintenance=on, page_port=page_port)
    sudo, live = _rights_and_live_port(host, settings, target)
    if sudo is None:
        grant = (
            f"run shipflow as root on {host.name}, or allow `{target.user or 'the deploy user'} ALL=(root) "
            "NOPASSWD: /usr/sbin/nft` in sudoers (nftables installed)"
        )
        if target.switch == "nat":
            raise NatNotPermitted(
                f'{host.name}: switch = "nat" needs the right to change the NAT table: {grant}; '
                f'or set switch = "reload" in [targets.{target.name}] of {settings.path}'
            )
        warning = f"switch: nat is not permitted on {host.name}, so nginx reloads instead (for nat, {grant})"
        return SwitchState(
            "reload", recorded_port=recorded, warning=warning, maintenance=on, page_port=page_port
        )
    return SwitchState("nat", sudo, recorded, live, maintenance=on, page_port=page_port)


def _rights_and_live_port(
    host: Host, settings: DeploySettings, target: TargetSettings
) -> tuple[tuple[str, ...] | None, int | None]:
    """The prefix nft needs on ``host`` (None: not permitted) and the slot port of the kernel's rule. One
    listing answers both where nft works without sudo (root); otherwise the rights are asked first."""
    listed = host.query(nat.list_chain((), settings.app, target))
    if listed.ok:
        return (), nat.routed_port(listed.stdout, target.switch_port)
    if NO_CHAIN in listed.stderr:
        return (), None
    sudo = _nat_rights(host)
    return (None, None) if sudo is None else (sudo, live_port(host, settings, target, sudo))


def live_port(
    host: Host, settings: DeploySettings, target: TargetSettings, sudo: tuple[str, ...]
) -> int | None:
    """The slot port the kernel's rule sends the switch's port to now; None when there is no rule.

    A listing can fail while something else changes the ruleset at that moment (docker's own NAT rules
    for a container starting or stopping): it is asked again a few times before "no rule" is believed."""
    for attempt in range(LIST_ATTEMPTS):
        listed = host.query(nat.list_chain(sudo, settings.app, target))
        if listed.ok:
            return nat.routed_port(listed.stdout, target.switch_port)
        if NO_CHAIN in listed.stderr:  # the chain does not exist: no rule
            return None
        time.sleep(0.1 * (attempt + 1))
    return None


def _apply(host: Host, state: SwitchState, text: str) -> None:
    """Apply ``text`` as one transaction; a refused rule set changes nothing."""
    applied = host.run(nat.apply(state.sudo), stdin=text.encode())
    if not applied.ok:
        detail = (applied.stderr or applied.stdout).strip()
        raise proxy.SwitchFailed(
            f"{host.name}: nft refused the traffic rule; traffic still goes where it went.\n{detail}"
        )


def _apply_and_record(host: Host, state: SwitchState, target: TargetSettings, text: str) -> None:
    _apply(host, state, text)
    host.write_file(commands.switch_record_path(target), text.encode())


def front_ready(host: Host, settings: DeploySettings, target: TargetSettings, state: SwitchState) -> bool:
    """Whether nginx already routes through the switch's port (and, locally, runs); always for reload."""
    if state.kind != "nat":
        return True
    text = proxy.upstream_text(settings, target, target.switch_port).encode()
    routed = host.read_file(target.upstream_path) == text
    return routed and (not target.is_local or proxy.master_pid(host, target) is not None)


def prepare(
    host: Host, settings: DeploySettings, target: TargetSettings, state: SwitchState, serving: Slot | None
) -> None:
    """Before a candidate's health gate (so that none of it counts in the cutover): make nginx route
    through the switch's port, the rule first sending that port to the slot serving now so that clients
    see no change. Called when :func:`front_ready` is False: once per host, or to start the local nginx."""
    text = proxy.upstream_text(settings, target, target.switch_port).encode()
    previous = host.read_file(target.upstream_path)
    if state.maintenance is not None:
        _apply(host, state, page_rules(settings, target))
    elif serving is not None and state.recorded_port != serving.port:
        _apply_and_record(host, state, target, nat.ruleset(settings.app, target, serving.port, serving.name))
    proxy.write_upstream(host, settings, target, text, previous)


def page_rules(settings: DeploySettings, target: TargetSettings) -> str:
    """The rule set sending the switch's port to the maintenance page."""
    return nat.ruleset(settings.app, target, target.maintenance_port, "maintenance")


def front_port(target: TargetSettings, state: SwitchState, slot: Slot) -> int:
    """The address nginx names (its ``$upstream_addr``) once traffic goes to ``slot``: the switch's port
    under nat, else the slot, or the page during maintenance."""
    if state.kind == "nat":
        return target.switch_port
    return target.maintenance_port if state.maintenance else slot.port


def switch_to(
    host: Host, settings: DeploySettings, target: TargetSettings, state: SwitchState, slot: Slot
) -> Switched:
    """Send new connections to ``slot``. nat: replace the rule, nothing else (:func:`prepare` has made
    nginx route through it; :func:`commit` records it once verified); reload: rewrite the upstream
    include, ``nginx -t``, reload."""
    previous_rules = host.read_file(commands.switch_record_path(target))
    if state.maintenance is not None:
        return _behind_the_page(host, settings, target, state, slot, previous_rules, state.maintenance)
    if state.kind == "reload":
        done = proxy.switch(host, settings, target, slot)
        if previous_rules is not None:
            remove_rules(host, settings, target, state)
        return Switched("reload", None, None, done.previous_text, done.old_workers)
    rules = nat.ruleset(settings.app, target, slot.port, slot.name)
    _apply(host, state, rules)
    old_rules = previous_rules.decode() if previous_rules is not None else None
    return Switched("nat", old_rules, rules, None, ())


def weigh(
    host: Host,
    settings: DeploySettings,
    target: TargetSettings,
    state: SwitchState,
    slots: tuple[Slot, Slot],
    percent: int,
) -> None:
    """A canary step: ``percent`` % of new connections (nat) or requests (reload, by nginx's weights) to the
    new slot, the rest to the old one (``slots``: new, old); 0 sends everything back to the old slot. Not
    recorded: the record keeps naming the old slot."""
    new, old = slots
    if state.kind == "nat":
        rules = (
            nat.weighted_ruleset(settings.app, target, (new.port, new.name), (old.port, old.name), percent)
            if percent
            else nat.ruleset(settings.app, target, old.port, old.name)
        )
        _apply(host, state, rules)
        return
    text = (
        proxy.weighted_text(settings, target, new.port, old.port, percent)
        if percent
        else proxy.upstream_text(settings, target, old.port)
    )
    proxy.write_upstream(host, settings, target, text.encode(), host.read_file(target.upstream_path))


def _behind_the_page(
    host: Host,
    settings: DeploySettings,
    target: TargetSettings,
    state: SwitchState,
    slot: Slot,
    previous_rules: bytes | None,
    before: MaintenanceRecord,
) -> Switched:
    """During maintenance the front keeps routing to the page: only the page's health path moves to
    ``slot`` (the responder reloads; nginx in front and the kernel's rule stay as they are)."""
    after = replace(before, slot_port=slot.port)
    page.serve(host, settings, target, after)
    rules = nat.ruleset(settings.app, target, slot.port, slot.name) if state.kind == "nat" else None
    old_rules = previous_rules.decode() if previous_rules is not None else None
    return Switched(state.kind, old_rules, rules, None, (), page=(before, after))


def commit(host: Host, target: TargetSettings, done: Switched) -> None:
    """Record a verified switch on the host: the slot the next deploy reads and a restore puts back."""
    if done.kind == "nat" and done.rules is not None:
        host.write_file(commands.switch_record_path(target), done.rules.encode())
    if done.page is not None:
        host.write_file(responder.record_path(target), done.page[1].to_json().encode())


def undo(
    host: Host, settings: DeploySettings, target: TargetSettings, state: SwitchState, done: Switched
) -> None:
    """Route as before ``done``: the previous rule (the record still names it), or the previous upstream;
    during maintenance, the page's health path to the slot it went to."""
    if done.page is not None:
        page.serve(host, settings, target, done.page[0])
    elif done.kind == "nat":
        previous = done.previous_rules.encode() if done.previous_rules is not None else None
        _put_rules_back(host, settings, target, state, previous)
    elif done.previous_upstream is not None:
        host.write_file(target.upstream_path, done.previous_upstream.encode())
        host.run(list(target.nginx_reload)).check(host.name)


def _put_rules_back(
    host: Host, settings: DeploySettings, target: TargetSettings, state: SwitchState, previous: bytes | None
) -> None:
    if previous is None:
        remove_rules(host, settings, target, state)
    else:
        _apply_and_record(host, state, target, previous.decode())


def restore(host: Host, settings: DeploySettings, target: TargetSettings, state: SwitchState) -> bool:
    """Put back what the host lost (a reboot, a flush, a killed switch): the recorded rule, or during
    maintenance its page and the rule to it. False when nothing was missing."""
    restored = False
    if state.maintenance is not None and not page.running(host, target):
        page.serve(host, settings, target, state.maintenance)
        restored = True
    if not state.rule_missing:
        return restored
    if state.maintenance is not None:
        _apply(host, state, page_rules(settings, target))
        return True
    raw = host.read_file(commands.switch_record_path(target))
    if raw is None:
        return restored
    _apply(host, state, raw.decode())
    return True


def to_page(host: Host, settings: DeploySettings, target: TargetSettings, state: SwitchState) -> Switched:
    """Route the front to the maintenance page (its responder already answers): the rule, or the include
    and a reload."""
    if state.kind == "nat":
        _apply(host, state, page_rules(settings, target))
        return Switched("nat", None, None, None, ())
    text = proxy.upstream_text(settings, target, target.maintenance_port).encode()
    done = proxy.write_upstream(host, settings, target, text, host.read_file(target.upstream_path))
    return Switched("reload", None, None, done.previous_text, done.old_workers)


def from_page(
    host: Host, settings: DeploySettings, target: TargetSettings, state: SwitchState, slot: Slot
) -> Switched:
    """Route the front from the maintenance page back to ``slot``."""
    if state.kind == "nat":
        _apply(host, state, nat.ruleset(settings.app, target, slot.port, slot.name))
        return Switched("nat", None, None, None, ())
    done = proxy.switch(host, settings, target, slot)
    return Switched("reload", None, None, done.previous_text, done.old_workers)


def remove_rules(host: Host, settings: DeploySettings, target: TargetSettings, state: SwitchState) -> None:
    """Delete the app's chain and its record (nothing to do on a host that never switched by nat)."""
    if state.kind == "nat" or state.sudo:
        sudo = state.sudo
    else:
        found = _nat_rights(host)
        if found is None:
            host.run(commands.remove_file(commands.switch_record_path(target)))
            return
        sudo = found
    host.run(nat.apply(sudo), stdin=nat.removal(settings.app, target).encode())
    host.run(commands.remove_file(commands.switch_record_path(target)))


def drain_connections(host: Host, port: int, timeout: float) -> int:
    """Wait until no established connection to the slot's ``port`` is left; how many remain at the end."""
    deadline = time.monotonic() + timeout
    while True:
        listed = host.query(nat.established_to(port))
        remaining = len(listed.stdout.splitlines()) if listed.ok else 0
        if remaining == 0 or time.monotonic() >= deadline:
            return remaining
        time.sleep(0.05)
