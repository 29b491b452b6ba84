"""Maintenance mode: the front answers 503 with a page and ``Retry-After`` for every path but the health
path, switched the way the target switches traffic (under nat: one rule, no nginx reload).

On: the page's responder starts (:mod:`shipflow.deploy.page`), the record is written (the intent: a run
killed half-way is completed by the next deploy or ``deploy.repair``), then the front is routed to the page.
Off: the record goes, the front is routed back to the live slot, the page's last connections finish, the
responder stops. Both run under the deploy lock and are recorded in the audit log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.deploy import audit, commands, lock, page, proxy, responder, traffic
from shipflow.deploy.responder import MaintenanceRecord
from shipflow.deploy.state import read_state
from shipflow.errors import BadInput, Refused
from shipflow.hosts.base import HostError
from shipflow.project import shown

if TYPE_CHECKING:
    from collections.abc import Callable

    from shipflow.deploy.context import Deployment

VERIFY_SECONDS = 10.0


@dataclass(frozen=True)
class PageRequest:
    """What ``deploy.maintenance on`` asked for, checked."""

    message: str
    retry_after: int


def checked_request(switch: str, message: str | None, retry_after: int) -> PageRequest | None:
    """What ``deploy.maintenance on|off`` asks for: the page for ``on``, None for ``off``; else
    :class:`~shipflow.errors.BadInput` naming the word or flag."""
    if switch not in ("on", "off"):
        raise BadInput(f"give on or off, not {shown(switch)} (e.g. inv deploy.maintenance --env prod on)")
    if switch == "off":
        if message is not None:
            raise BadInput("--message is for `on`; `off` takes the page down")
        return None
    try:
        text, seconds = responder.checked_page(message, retry_after)
    except ValueError as error:
        raise BadInput(str(error)) from None
    return PageRequest(text, seconds)


def _locked(d: Deployment, body: Callable[[], str]) -> str:
    """``body`` under the deploy lock (a deploy and a maintenance switch never overlap)."""
    path = commands.lock_path(d.target)
    if d.host.rehearses:
        d.reporter.line(f"  would lock {d.host.name}:{path}")
        return body()
    lock.acquire(d.host, path, d.actor, wait=d.lock_wait)
    try:
        return body()
    finally:
        lock.release(d.host, path, d.actor)


def _audit(d: Deployment, result: str, detail: str, slot: str | None) -> None:
    if not d.host.rehearses:
        record = audit.new_record(
            "maintenance", result, d.actor, d.target.environment, slot=slot, detail=detail
        )
        audit.append(d.host, commands.audit_log_path(d.target), record)


def turn_on(d: Deployment, request: PageRequest) -> str:
    """Put the page up (or change what it says when it is up); returns the line to print."""
    switch = traffic.read_switch(d.host, d.settings, d.target)  # a refusal comes before any change
    return _locked(d, lambda: _on(d, switch, request))


def _on(d: Deployment, switch: traffic.SwitchState, request: PageRequest) -> str:
    state = read_state(d.host, d.settings, d.target)
    live = state.active
    if live is None:
        raise Refused(f"{d.host.name}: nothing is deployed yet, so there is nothing to put in maintenance")
    message = d.reporter.mask(request.message)
    previous = switch.maintenance
    record = MaintenanceRecord(
        message=message,
        retry_after=request.retry_after,
        since=previous.since if previous else audit.utc_now(),
        by=previous.by if previous else f"{d.actor.user}@{d.actor.machine}",
        slot_port=live.port,
    )
    where = f"{d.target.public_url} answers 503 (Retry-After {record.retry_after} s)"
    if previous is not None:
        with d.reporter.step("page", "the page's new text (maintenance stays on)"):
            page.serve(d.host, d.settings, d.target, record)
            _write_record(d, record)
        _audit(d, "ok", f"page changed: {message}", live.name)
        return f"{d.host.name}: maintenance was on already; the page now says: {message}"
    with d.reporter.step("page", f"the maintenance page on 127.0.0.1:{d.target.maintenance_port}"):
        page.serve(d.host, d.settings, d.target, record)
    try:
        _write_record(d, record)
        if switch.kind == "nat" and not traffic.front_ready(d.host, d.settings, d.target, switch):
            front = f"nginx -> 127.0.0.1:{d.target.switch_port} (the NAT switch), once"
            with d.reporter.step("front", front):
                traffic.prepare(d.host, d.settings, d.target, switch, live)
        with d.reporter.step("route", _route_line(d, switch, "the maintenance page")):
            traffic.to_page(d.host, d.settings, d.target, switch)
        with d.reporter.step("verify", where):
            _verify(d, want_page=True)
    except BaseException as error:
        _put_traffic_back(d, switch, live)
        _audit(d, "failed", f"on: {str(error) or type(error).__name__}", live.name)
        raise
    _audit(d, "ok", f"on: {message}", live.name)
    return (
        f"{d.host.name}: maintenance on: {where} for every path but {d.settings.health.path}, "
        f"which still reaches {live.name}"
    )


def _write_record(d: Deployment, record: MaintenanceRecord) -> None:
    d.host.write_file(responder.record_path(d.target), record.to_json().encode())


def _put_traffic_back(d: Deployment, switch: traffic.SwitchState, live: commands.Slot) -> None:
    """After a failed ``on``: the front to the live slot, no record, no responder (each step tried)."""
    record = responder.record_path(d.target)
    d.best_effort("route traffic back", lambda: traffic.from_page(d.host, d.settings, d.target, switch, live))
    d.best_effort("remove the maintenance record", lambda: d.host.run(commands.remove_file(record)))
    d.best_effort("stop the maintenance page", lambda: page.stop(d.host, d.target))


def _route_line(d: Deployment, switch: traffic.SwitchState, to: str) -> str:
    if switch.kind == "nat":
        return f"nat 127.0.0.1:{d.target.switch_port} -> {to}, no nginx reload"
    return f"nginx reload -> {to}"


def turn_off(d: Deployment) -> str:
    """Take the page down: the front routes to the live slot again; returns the line to print."""
    switch = traffic.read_switch(d.host, d.settings, d.target)
    if switch.maintenance is None:
        return f"{d.host.name}: maintenance is not on; nothing to do"
    return _locked(d, lambda: _off(d, switch))


def _off(d: Deployment, switch: traffic.SwitchState) -> str:
    state = read_state(d.host, d.settings, d.target)
    live = state.active
    if live is None:
        raise HostError(
            f"{d.host.name}: the slot behind the maintenance page is unknown; deploy again "
            "(the deploy keeps maintenance on), then turn it off"
        )
    d.run(commands.remove_file(responder.record_path(d.target)))
    with d.reporter.step("route", _route_line(d, switch, f"{live.name} (127.0.0.1:{live.port})")):
        done = traffic.from_page(d.host, d.settings, d.target, switch, live)
    with d.reporter.step("verify", f"{d.target.public_url} answers from {live.name} again"):
        _verify(d, want_page=False)
    timeout = d.target.drain_timeout
    if not d.host.rehearses:
        with d.reporter.step("drain", f"the page's connections (127.0.0.1:{d.target.maintenance_port})"):
            if done.old_workers and not proxy.drain(d.host, done.old_workers, timeout):
                d.reporter.line(f"  warning: old nginx workers still busy after {timeout:g} s")
            traffic.drain_connections(d.host, d.target.maintenance_port, timeout)
    with d.reporter.step("stop page", "the maintenance page's nginx"):
        page.stop(d.host, d.target)
    on_since = switch.maintenance.since if switch.maintenance else "?"
    _audit(d, "ok", f"off (on since {on_since})", live.name)
    return f"{d.host.name}: maintenance off: {d.target.public_url} serves {live.name} again"


def _verify(d: Deployment, *, want_page: bool) -> None:
    """Ask the front until ``/`` answers the page (or no longer does) and the health path answers 200.

    nginx may still send a request or two down a pooled connection opened before the switch: each such
    connection serves at most one more request (``keepalive_time``), so the answer settles quickly."""
    base = d.target.public_url.rstrip("/")
    if d.host.rehearses:
        d.reporter.line(f"  would check {base}/ answers {'503' if want_page else 'not 503'}")
        return
    deadline = time.monotonic() + VERIFY_SECONDS
    status = health_status = 0
    while time.monotonic() < deadline:
        status, _ = _probe(d, f"{base}/")
        health_status, _ = _probe(d, f"{base}{d.settings.health.path}")
        if (status == 503) == want_page and health_status == 200:
            return
        time.sleep(0.05)
    raise HostError(
        f"{base}/ answered {status or 'nothing'} and {d.settings.health.path} {health_status or 'nothing'} "
        f"within {VERIFY_SECONDS:g} s; expected {'503 and 200' if want_page else 'not 503, and 200'}"
    )


def _probe(d: Deployment, url: str) -> tuple[int, str]:
    return commands.parse_probe(d.host.query(commands.http_probe(url, d.settings.health.timeout)).stdout)
