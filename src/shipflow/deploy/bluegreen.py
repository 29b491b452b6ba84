"""The blue-green switch on one host: lock -> read state (a lost NAT rule restored) -> image -> aside ->
env file -> migrate -> hooks -> start the candidate -> health gate -> switch traffic -> verify -> drain ->
stop the old slot (kept for rollback) -> prune -> audit -> unlock.

Every step reads the host's truth first, so running the same command again after a crash converges.
A failure before the switch removes the candidate and puts back the release it had set aside; a failure at
the verify step routes traffic as before (rule and upstream), so the previous release keeps serving.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from shipflow.deploy import (
    audit,
    baking,
    canary,
    commands,
    database,
    health,
    lock,
    migration,
    proxy,
    smoke,
    traffic,
    transfer,
)
from shipflow.deploy.background import Background
from shipflow.deploy.commands import UPSTREAM_HEADER, Release, Slot, short_sha
from shipflow.deploy.context import DeployFailed
from shipflow.deploy.releases import choose_rollback, last_deploy_never_switched
from shipflow.deploy.runrecord import RunRecord
from shipflow.deploy.state import HostState, SlotState, read_state
from shipflow.hosts.base import HostError
from shipflow.images.facts import host_has_image

if TYPE_CHECKING:
    from collections.abc import Callable

    from shipflow.deploy.context import Deployment
    from shipflow.deploy.database import Confirmation
    from shipflow.deploy.traffic import Switched, SwitchState

VERIFY_SECONDS = 10.0


@dataclass(frozen=True)
class Delivery:
    """How a release built elsewhere reaches a server and is proven there: the image to bring when the host
    lacks it (streamed, or pulled from ``registry``), the smoke check after the switch, the guards a
    ``--force`` overrode and the environment it was promoted from (both kept in the audit record)."""

    image: transfer.LocalImage
    registry: str | None = None
    smoke: bool = True
    forced: tuple[str, ...] = ()
    promoted_from: str | None = None  # the environment whose gates proved this image


@dataclass(frozen=True)
class Outcome:
    """What a deploy or rollback did; ``cutover_s`` runs from health passed to the new slot serving through
    nginx (for nat, the rule in force)."""

    action: str
    release: Release
    slot: Slot
    previous: Release | None
    changed: bool
    seconds: float
    cutover_s: float | None = None
    health_s: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    record: RunRecord = field(default_factory=RunRecord)


# --- the image and the env file ---------------------------------------------------------------------


def _bring_image(d: Deployment, release: Release, delivery: Delivery | None, record: RunRecord) -> None:
    if delivery is not None:
        result = transfer.ensure_image(d.host, delivery.image, d.reporter, registry=delivery.registry)
        record.image_brought(delivery.image.image_id, result)
    elif not host_has_image(d.host, release.image):
        if d.host.rehearses:  # a dry run of a deploy that builds it first
            d.reporter.line(f"  {release.image} is not on {d.host.name} yet: a real run builds it first")
            return
        raise DeployFailed(f"image {release.image} is not on {d.host.name}: build it first with `inv build`")


def write_env_file(d: Deployment, path: str, release: Release, content: bytes | None = None) -> None:
    """``content`` (default: the deploy's env file) at mode 0600, owned by the user the image runs as, so
    only that user (and root) can read it."""
    d.host.write_file(path, d.env_file if content is None else content, mode=0o600)
    given = d.host.run(commands.give_to_image_user(release.image, path))
    if not given.ok:
        raise DeployFailed(
            f"cannot give {path} to the user {release.image} runs as: {given.stderr.strip()[-300:]}"
        )


# --- migrations ---------------------------------------------------------------------------------------


# --- the candidate and the release it sets aside -------------------------------------------------------


def _start_candidate(d: Deployment, slot: Slot, release: Release, record: RunRecord) -> None:
    extra = {migration.REVISION_LABEL: record.db_after} if record.db_after else {}
    d.run(
        commands.run_container(
            d.settings, d.target, slot, release,
            deployed_at=audit.utc_now(), deployed_by=d.actor.user, **extra,
        )
    )  # fmt: skip


def _undo_candidate(
    d: Deployment, candidate: SlotState, *, kept_release: bool, started: bool, moved: bool
) -> None:
    """After a failure: a kept release (a rollback's) is only stopped; a new candidate is removed, and the
    release it had moved aside (``moved``) gets its slot back, env file included."""
    container = candidate.container
    if started or kept_release:
        d.best_effort(f"drain {container}", lambda: _let_connections_finish(d, candidate.slot))
    if kept_release:
        d.best_effort(f"stop {container}", lambda: d.run(commands.stop_container(container, 0)))
        return
    if started:
        d.best_effort(f"remove {container}", lambda: d.run(commands.remove_container(container)))
    if moved:
        d.best_effort(f"put {container} back", lambda: _put_back(d, candidate.slot, container))


def _let_connections_finish(d: Deployment, slot: Slot) -> None:
    """Before a slot that may have served (a switch undone, a deploy killed after its switch) is stopped:
    whatever connections it holds finish first, so that stopping it cuts no request."""
    if not d.host.rehearses:
        traffic.drain_connections(d.host, slot.port, d.target.drain_timeout)


def _step_aside(d: Deployment, slot: Slot, state: SlotState) -> None:
    """The slot's older release makes room rather than being removed, so that a failed deploy can put it
    back and a rollback afterwards still finds its container (and its env file)."""
    if state.running:
        _let_connections_finish(d, slot)
        d.run(commands.stop_container(state.container, d.target.stop_timeout))
    env_file = commands.env_file_path(d.target, slot)
    d.run(commands.move_file_if_present(env_file, commands.aside_env_file_path(d.target, slot)))
    d.run(commands.rename_container(state.container, commands.aside_name(state.container)))


def _put_back(d: Deployment, slot: Slot, container: str) -> None:
    d.run(commands.rename_container(commands.aside_name(container), container))
    aside_env = commands.aside_env_file_path(d.target, slot)
    d.run(commands.move_file_if_present(aside_env, commands.env_file_path(d.target, slot)))


def _drop_aside(d: Deployment, slot: Slot, container: str) -> None:
    """After a switch: the release the candidate replaced is two releases old, so it goes."""
    aside = commands.aside_name(container)
    d.best_effort(f"remove {aside}", lambda: d.run(commands.remove_container(aside)))
    aside_env = commands.aside_env_file_path(d.target, slot)
    d.best_effort("remove its env file", lambda: d.run(commands.remove_file(aside_env)))


def _settle_asides(d: Deployment, state: HostState) -> HostState:
    """Finish what a killed deploy left: an aside goes back to its slot, unless that slot now serves."""
    if not state.asides:
        return state
    for slot_state in state.slots:
        if commands.aside_name(slot_state.container) not in state.asides:
            continue
        if state.active == slot_state.slot:  # the new release switched: the older one is not kept
            _drop_aside(d, slot_state.slot, slot_state.container)
            continue
        if slot_state.exists:  # the candidate that never switched (or whose switch was undone)
            _let_connections_finish(d, slot_state.slot)
            d.run(commands.remove_container(slot_state.container))
        _put_back(d, slot_state.slot, slot_state.container)
        d.reporter.line(f"  put {slot_state.container} back from an unfinished deploy")
    return read_state(d.host, d.settings, d.target)


# --- health, switch, verify, drain -------------------------------------------------------------------


def _health_gate(d: Deployment, slot: Slot, release: Release, container: str) -> health.HealthOutcome | None:
    url = f"http://127.0.0.1:{slot.port}{d.settings.health.path}"
    if d.host.rehearses:
        d.reporter.line(f"  would poll {url} until 200 (at most {d.settings.health.deploy_timeout:g} s)")
        return None
    outcome = health.wait_healthy(d.host, url, d.settings.health)
    if outcome.passed:
        return outcome
    logs = d.host.query(commands.container_logs(container))
    d.reporter.line(f"  last log lines of {container}:")
    for line in (logs.stdout + logs.stderr).strip().splitlines()[-30:]:
        d.reporter.line(f"    | {line}")
    last = f"{outcome.status} {outcome.body.strip()[:200]}" if outcome.status else "no answer"
    raise DeployFailed(
        f"release {short_sha(release.sha)} in slot {slot.name} (127.0.0.1:{slot.port}) did not pass its "
        f"health check at {d.settings.health.path} within {d.settings.health.deploy_timeout:g} s "
        f"({outcome.probes} probes; last response: {last}). The candidate is removed and nginx was not "
        f"touched, so the previous release keeps serving. Its last log lines are above; fix the release "
        f"and deploy again, or raise [health] deploy_timeout in {d.settings.path}."
    )


def _verify(d: Deployment, slot: Slot, switch: SwitchState) -> float:
    """Ask nginx itself until the new slot answers (a reload takes effect asynchronously); with the NAT
    switch nginx names the switch's port, so the kernel's rule is read back too. Returns when (monotonic)
    the new slot answered through nginx."""
    url = f"{d.target.public_url.rstrip('/')}{d.settings.health.path}"
    if d.host.rehearses:
        d.reporter.line(f"  would check {url} answers 200 from 127.0.0.1:{slot.port}")
        return time.monotonic()
    routed_to = traffic.front_port(d.target, switch, slot)
    deadline = time.monotonic() + VERIFY_SECONDS
    status, text = 0, ""
    while time.monotonic() < deadline:
        status, text = commands.parse_probe(
            d.host.query(commands.http_probe(url, d.settings.health.timeout, headers=True)).stdout
        )
        routed = [
            line.split(":", 1)[1].strip()
            for line in text.splitlines()
            if line.lower().startswith(UPSTREAM_HEADER.lower() + ":")
        ]
        if status == 200 and (not routed or routed[0].endswith(f":{routed_to}")):
            serving_at = time.monotonic()
            if switch.kind == "nat":
                _check_rule(d, slot, switch)
            return serving_at
        time.sleep(0.05)
    raise HostError(
        f"{url} did not answer 200 from slot {slot.name} within {VERIFY_SECONDS:g} s (last: {status})"
    )


def _check_rule(d: Deployment, slot: Slot, switch: SwitchState) -> None:
    live = traffic.live_port(d.host, d.settings, d.target, switch.sudo)
    wanted = switch.page_port if switch.maintenance else slot.port
    if live != wanted:
        raise HostError(f"the NAT rule on {d.host.name} sends new connections to {live}, not {wanted}")


def _prepare_front(d: Deployment, switch: SwitchState, serving: Slot | None) -> None:
    """With the NAT switch: nginx routes through the switch's port before the cutover begins."""
    if traffic.front_ready(d.host, d.settings, d.target, switch):
        return
    with d.reporter.step("front", f"nginx -> 127.0.0.1:{d.target.switch_port} (the NAT switch), once"):
        traffic.prepare(d.host, d.settings, d.target, switch, serving)


def _switch_line(d: Deployment, slot: Slot, switch: SwitchState) -> str:
    to = f"{slot.name} (127.0.0.1:{slot.port})"
    if switch.maintenance:
        return f"the maintenance page's {d.settings.health.path} -> {to}; the page stays up"
    if switch.kind == "nat":
        return f"nat 127.0.0.1:{d.target.switch_port} -> {to}, no nginx reload"
    return f"nginx reload -> {to}"


def _switch_verify(
    d: Deployment, slot: Slot, switch: SwitchState, *, commit: bool = True
) -> tuple[Switched, float]:
    """Move new connections to ``slot`` and verify; on a failed verify route as before. Returns the switch
    done and when the new slot began to serve through nginx: for nat, the moment the rule was in force
    (every connection nginx opens from then on reaches the slot; the verify follows); after a reload,
    the moment nginx was first seen answering from the slot (a reload takes effect asynchronously).
    Without ``commit`` the switch is not recorded yet (a bake window records it once it passed, so a
    deploy killed while baking leaves the record naming the old slot, which the next run puts back)."""
    with d.reporter.step("switch", _switch_line(d, slot, switch)):
        switched = traffic.switch_to(d.host, d.settings, d.target, switch, slot)
    in_force = time.monotonic()
    try:
        with d.reporter.step("verify", f"through {d.target.public_url}"):
            answered = _verify(d, slot, switch)
            if commit:
                traffic.commit(d.host, d.target, switched)
    except BaseException:
        d.best_effort(
            "route traffic as before",
            lambda: traffic.undo(d.host, d.settings, d.target, switch, switched),
        )
        raise
    return switched, in_force if switched.kind == "nat" else answered


def _drain_and_stop(
    d: Deployment, switched: Switched, old: SlotState | None, meanwhile: Callable[[], None] | None = None
) -> None:
    """Let the old slot finish: nginx's pre-reload workers (after a reload) and every connection still
    open to the old slot's port, each bounded by ``drain_timeout``, with ``meanwhile`` (housekeeping
    that needs no wait) running beside the waits; then stop the old slot gracefully in the background
    (it serves no one any more; the next run on this host waits for it to be down)."""
    timeout = d.target.drain_timeout
    beside = Background(meanwhile) if meanwhile is not None and not d.host.rehearses else None
    if meanwhile is not None and beside is None:
        meanwhile()
    if d.host.rehearses:
        d.reporter.line(f"  would wait for the old slot's open connections (at most {timeout:g} s)")
    elif switched.old_workers:
        with d.reporter.step("drain", f"{len(switched.old_workers)} old nginx workers"):
            if not proxy.drain(d.host, switched.old_workers, timeout):
                d.reporter.line(f"  warning: old nginx workers still busy after {timeout:g} s")
    if old is not None and old.running and not d.host.rehearses:
        with d.reporter.step("drain", f"connections to {old.slot.name} (127.0.0.1:{old.slot.port})"):
            remaining = traffic.drain_connections(d.host, old.slot.port, timeout)
            if remaining:
                d.reporter.line(f"  warning: {remaining} connection(s) still open after {timeout:g} s")
    if beside is not None:
        beside.result()
    if old is not None and old.running:
        with d.reporter.step("stop old", f"{old.container} (kept for rollback; stopping in the background)"):
            record = commands.stopping_record_path(d.target)
            d.host.write_file(record, f"{old.container}\n".encode())
            d.run(commands.stop_in_background(old.container, d.target.stop_timeout, record))


def _wait_for_stopping(d: Deployment) -> None:
    """Containers the last run left stopping in the background are down before anything reads the slots
    (``docker stop`` returns at once for one already down)."""
    path = commands.stopping_record_path(d.target)
    raw = d.host.read_file(path)
    if raw is None:
        return
    for name in raw.decode("utf-8", "replace").split():
        d.host.run(commands.stop_container(name, d.target.stop_timeout))  # gone already: nothing to wait for
    d.run(commands.remove_file(path))


@dataclass(frozen=True)
class _Activation:
    health_s: float | None
    cutover_s: float | None


def _prepare_candidate(
    d: Deployment,
    slot: Slot,
    release: Release,
    serving: SlotState | None,
    *,
    migrate: bool,
    record: RunRecord,
    delivery: Delivery | None,
) -> Confirmation | None:
    """Env file, migrations (the database read through the ``serving`` release) and hooks, before the new
    release starts in ``slot``; the database's confirmation to wait for before the switch, if any."""
    path = commands.env_file_path(d.target, slot)
    with d.reporter.step("env file", f"{path} (0600)"):
        write_env_file(d, path, release)
    confirmation = None
    if migrate and d.settings.migrate == "before-switch":
        labels = delivery.image.labels if delivery is not None else None
        confirmation = database.migrate(d, slot, release, record, serving, labels)
    for command in d.settings.pre_switch:
        with d.reporter.step("hook", " ".join(command)):
            d.run(commands.one_off(d.settings, d.target, slot, release, command))
    return confirmation


def _activate(
    d: Deployment,
    state: HostState,
    slot: Slot,
    release: Release,
    *,
    reuse_container: bool,
    record: RunRecord,
    switch: SwitchState,
    delivery: Delivery | None = None,
    migrate: bool = False,
    before_switch: Callable[[], None] | None = None,
    while_draining: Callable[[], None] | None = None,
    bake_window: float = 0.0,
) -> _Activation:
    """Bring ``release`` up in ``slot`` and route to it; with a ``bake_window``, watch it there while the
    old slot keeps running, and switch back on a breach."""
    candidate = state.of(slot)
    old = state.active_state if state.active and state.active != slot else None
    watchable = old is not None and old.running and not switch.maintenance
    bakes, canaries = watchable and bake_window > 0, watchable and bool(d.canary_steps)
    if not reuse_container:
        with d.reporter.step("image", release.image):
            _bring_image(d, release, delivery, record)
    started = moved = weighed = False
    try:
        confirmation = None
        if not reuse_container:
            if candidate.exists:
                with d.reporter.step(
                    "aside", f"{candidate.container} ({short_sha(candidate.sha)}) makes room"
                ):
                    _step_aside(d, slot, candidate)
                moved = True
            confirmation = _prepare_candidate(
                d, slot, release, old, migrate=migrate, record=record, delivery=delivery
            )
            with d.reporter.step("start", f"{candidate.container} on 127.0.0.1:{slot.port}"):
                started = True
                _start_candidate(d, slot, release, record)
        elif not candidate.running:
            with d.reporter.step("start", f"{candidate.container} (existing container)"):
                d.run(commands.start_container(candidate.container))
        _prepare_front(d, switch, old.slot if old else None)
        passed = _boot(d, slot, release, candidate.container)
        if confirmation is not None and not database.confirmed(d, confirmation, record):
            _migrate_and_boot_again(d, slot, release, candidate.container, record)
        if before_switch is not None:
            before_switch()
        watching = (bakes or canaries) and not d.host.rehearses
        before = baking.before_switch(d, old.sha if old else None) if watching else None
        if canaries and old is not None:
            weighed = not d.host.rehearses
            before = _canary(d, slot, release, old, switch, before, record)
        healthy_at = time.monotonic()
        switched, serving_at = _switch_verify(d, slot, switch, commit=not bakes)
    except BaseException:
        if weighed and old is not None:  # a step's share may still be in force
            slots = (slot, old.slot)
            d.best_effort(
                f"send all traffic back to {old.slot.name}",
                lambda: traffic.weigh(d.host, d.settings, d.target, switch, slots, 0),
            )
        _undo_candidate(d, candidate, kept_release=reuse_container, started=started, moved=moved)
        raise
    cutover = serving_at - healthy_at
    if bakes and old is not None:
        watched = (before, bake_window, serving_at)
        _bake(d, slot, release, old, switch, switched, (candidate, moved), watched, record)

    def housekeeping() -> None:
        if moved:  # first: the prune then sees the image of the release it held as unused
            _drop_aside(d, slot, candidate.container)
        if while_draining is not None:
            while_draining()

    _drain_and_stop(d, switched, old, housekeeping)
    return _Activation(passed.seconds if passed else None, None if d.host.rehearses else cutover)


def _canary(
    d: Deployment,
    slot: Slot,
    release: Release,
    old: SlotState,
    switch: SwitchState,
    before: baking.Before | None,
    record: RunRecord,
) -> baking.Before | None:
    """The canary steps before the full switch (a dry run says what they would be)."""
    if before is None:
        steps = ", then ".join(f"{percent}%" for percent in d.canary_steps)
        seconds = d.settings.canary.step_seconds
        d.reporter.line(
            f"  would send {steps} of new connections to {slot.name}, {seconds:g} s each, watched"
        )
        return None
    return canary.run_steps(d, slot, release, old, switch, before, record)


def _bake(
    d: Deployment,
    slot: Slot,
    release: Release,
    old: SlotState,
    switch: SwitchState,
    switched: Switched,
    candidate: tuple[SlotState, bool],
    watched: tuple[baking.Before | None, float, float],
    record: RunRecord,
) -> None:
    """The bake window after the switch (``watched``: the log before it, the window's seconds, when the
    new slot began to serve); the switch is recorded once it passed."""
    before, window, serving_at = watched
    old_name = f"{old.slot.name} ({short_sha(old.sha)})"
    if before is None:  # a dry run
        d.reporter.line(f"  would watch the new release for {window:g} s, {old_name} still running")
        traffic.commit(d.host, d.target, switched)
        return
    baking.bake_or_revert(
        d, slot, release, before, window, record,
        switched_in_force=serving_at,
        route_back=lambda: traffic.undo(d.host, d.settings, d.target, switch, switched),
        remove_new=lambda: _undo_candidate(
            d, candidate[0], kept_release=False, started=True, moved=candidate[1]
        ),
        old=(old.slot.name, old_name),
    )  # fmt: skip
    traffic.commit(d.host, d.target, switched)


def _boot(d: Deployment, slot: Slot, release: Release, container: str) -> health.HealthOutcome | None:
    with d.reporter.step("health", f"{d.settings.health.path} on 127.0.0.1:{slot.port}"):
        return _health_gate(d, slot, release, container)


def _migrate_and_boot_again(
    d: Deployment, slot: Slot, release: Release, container: str, record: RunRecord
) -> None:
    """The database moved since the serving release went live: the new release (which has had no traffic)
    is removed, the migrations run, and it starts and boots again."""
    d.run(commands.remove_container(container))
    database.migrate(d, slot, release, record, None)
    with d.reporter.step("start", f"{container} on 127.0.0.1:{slot.port}, after the migration"):
        _start_candidate(d, slot, release, record)
    _boot(d, slot, release, container)


# --- under the lock, recorded -----------------------------------------------------------------------


def _locked(
    d: Deployment, action: str, record: RunRecord, body: Callable[[HostState, SwitchState], Outcome]
) -> Outcome:
    """Run ``body`` under the host lock and record the result in the audit log, whatever it is."""
    lock_file = commands.lock_path(d.target)
    started = time.monotonic()
    switch = traffic.read_switch(d.host, d.settings, d.target)  # a refusal comes before any change
    if switch.warning:
        d.reporter.line(f"  warning: {switch.warning}")
    if switch.maintenance:
        record.maintenance = True
        d.reporter.line(
            f"  maintenance is on (since {switch.maintenance.since}): the page stays up and the new release "
            f"serves only {d.settings.health.path} until `inv deploy.maintenance --env "
            f"{d.target.environment} off`"
        )
    if d.host.rehearses:
        d.reporter.line(f"  would lock {d.host.name}:{lock_file}")
    else:
        with d.reporter.step("lock", lock_file):
            replaced = lock.acquire(d.host, lock_file, d.actor, wait=d.lock_wait)
        if replaced is not None:
            d.reporter.line(f"  took over a stale lock of {replaced.describe()}")
    state: HostState | None = None
    try:
        with d.reporter.step("read state"):
            if not d.host.rehearses:
                _wait_for_stopping(d)
            _restore_switch(d, switch)
            baking.forget_interrupted(d, switch.kind)
            state = _settle_asides(d, read_state(d.host, d.settings, d.target))
        outcome = body(state, switch)
    except BaseException as error:
        detail = str(error) or type(error).__name__
        result = "reverted" if isinstance(error, baking.Reverted) else "failed"
        d.best_effort(
            "record the failure in the audit log",
            lambda: _append_audit(d, _audit_entry(d, action, result, started, state, None, record, detail)),
        )
        d.best_effort(f"release the lock {lock_file}", lambda: _unlock(d, lock_file))
        raise
    if d.host.rehearses:
        return outcome
    try:
        line = audit.line_of(_audit_entry(d, action, "ok", started, state, outcome, record))
    except BaseException:
        _unlock(d, lock_file)
        raise
    lock.append_and_release(d.host, commands.audit_log_path(d.target), line, lock_file, d.actor)
    return outcome


def _restore_switch(d: Deployment, switch: SwitchState) -> None:
    """What the host lost (a reboot, a flush, a switch killed half-way) comes back first: the recorded NAT
    rule, or the maintenance page and its rule, so the front serves as recorded before anything changes."""
    if not traffic.restore(d.host, d.settings, d.target, switch):
        return
    if switch.maintenance:
        d.reporter.line("  restored the maintenance page (the host had lost it)")
        return
    where = commands.slot_for_port(d.target, switch.recorded_port or 0)
    d.reporter.line(
        f"  restored the traffic rule to {where.name if where else switch.recorded_port} from "
        f"{commands.switch_record_path(d.target)} (the kernel had lost it)"
    )


def _unlock(d: Deployment, lock_file: str) -> None:
    if not d.host.rehearses:
        lock.release(d.host, lock_file, d.actor)


def _append_audit(d: Deployment, entry: audit.AuditRecord) -> None:
    if not d.host.rehearses:
        audit.append(d.host, commands.audit_log_path(d.target), entry)


def _audit_entry(
    d: Deployment,
    action: str,
    result: str,
    started: float,
    state: HostState | None,
    outcome: Outcome | None,
    record: RunRecord,
    detail: str = "",
) -> audit.AuditRecord:
    active = state.active_state if state else None
    return audit.new_record(
        action,
        result,
        d.actor,
        d.target.environment,
        from_sha=active.sha if active else None,
        to_sha=outcome.release.sha if outcome else None,
        version=outcome.release.version if outcome else None,
        slot=outcome.slot.name if outcome else None,
        duration_s=round(time.monotonic() - started, 3),
        detail=d.reporter.mask(detail),
        extra={
            **({"image": outcome.release.image} if outcome else {}),
            **record.audit_extra(d.reporter.timings),
        },
    )


def _converge_active(
    d: Deployment,
    state: HostState,
    active: SlotState,
    release: Release,
    action: str,
    record: RunRecord,
    switch: SwitchState,
) -> Outcome:
    """``release`` already runs in the active slot: re-apply the switch and stop the other slot."""
    d.reporter.line(f"  {short_sha(active.sha)} already serves from {active.slot.name}; converging")
    started = time.monotonic()
    _prepare_front(d, switch, active.slot)
    switched, _ = _switch_verify(d, active.slot, switch)
    _drain_and_stop(d, switched, state.of(commands.other_slot(d.target, active.slot)))
    seconds = time.monotonic() - started
    return Outcome(
        action, release, active.slot, None, False, seconds, timings=d.reporter.timings, record=record
    )


def _smoke(d: Deployment, release: Release, record: RunRecord) -> None:
    """GET the public URL from here after the switch; a failure fails the deploy without rolling back."""
    url = smoke.smoke_url(d.target.public_url, d.settings.health.path)
    with d.reporter.step("smoke", f"GET {url}"):
        result = smoke.smoke_check(url, d.settings.health.timeout)
        record.smoke = result.seen
        if not result.passed:
            raise DeployFailed(
                f"smoke check failed: GET {url} answered {result.answer} after {smoke.ATTEMPTS} tries. "
                f"Release {release.version} passed its health check and nginx on {d.host.name} routes to "
                "it; check the public URL (DNS, TLS, a load balancer), or go back with "
                f"`inv deploy.rollback --env {d.target.environment}`"
            )


def _prune_images(d: Deployment, release: Release) -> None:
    """Remove the app's release images beyond the newest ``retain``; never one a container uses."""
    if d.prune is None:
        return
    from shipflow.images.facts import prune_release_images

    app, retain = d.prune
    removed: list[str] = []

    def prune() -> None:
        removed.extend(prune_release_images(d.host, app, retain, keep=[release.image]))

    # Housekeeping after the switch: a failure here is a warning, the new release is already serving.
    with d.reporter.step("prune", f"{app} images beyond the newest {retain}"):
        d.best_effort("prune old release images", prune)
    if removed:
        d.reporter.line(f"  removed {len(removed)} old release image(s)")


# --- the two actions ---------------------------------------------------------------------------------


def _bake_window(d: Deployment) -> float:
    """``--bake S`` when given, else ``[bake] seconds``, else the target's default."""
    if d.bake_window is not None:
        return d.bake_window
    return d.settings.bake.seconds_for(d.target.environment)


def _run_on(d: Deployment) -> Deployment:
    """``d`` with a reporter of its own for one run, so that the steps it times (and records) are this
    run's on this host, even when hosts or runs share a reporter."""
    return replace(d, reporter=d.reporter.for_run())


def deploy(
    d: Deployment, release: Release, delivery: Delivery | None = None, *, build_s: float | None = None
) -> Outcome:
    """Deploy ``release`` blue-green; raise :class:`DeployFailed` with the previous release still serving.

    ``delivery`` brings an image built elsewhere to a server and smoke-checks it after the switch; without
    it the image must already be on the host (this machine's engine). ``build_s``: how long building the
    image took, when this run built it (kept with the steps in the audit record).
    """
    d = _run_on(d)
    record = RunRecord(
        forced=delivery.forced if delivery else (),
        build_s=build_s,
        promoted_from=delivery.promoted_from if delivery else None,
    )

    def body(state: HostState, switch: SwitchState) -> Outcome:
        started = time.monotonic()
        active = state.active_state
        if active is not None and active.running and active.sha == release.sha:
            return _converge_active(d, state, active, release, "deploy", record, switch)
        slot = commands.other_slot(d.target, active.slot) if active else commands.slots_of(d.target)[0]
        activation = _activate(
            d, state, slot, release,
            reuse_container=False, record=record, switch=switch, delivery=delivery, migrate=True,
            while_draining=lambda: _prune_images(d, release), bake_window=_bake_window(d),
        )  # fmt: skip
        if delivery is not None and delivery.smoke and not d.host.rehearses:
            _smoke(d, release, record)
        previous = active.release if active else None
        seconds = time.monotonic() - started
        return Outcome(
            "deploy", release, slot, previous, True, seconds,
            activation.cutover_s, activation.health_s, d.reporter.timings, record,
        )  # fmt: skip

    return _locked(d, "deploy", record, body)


def rollback(d: Deployment, to: str | None = None, image_repository: str | None = None) -> Outcome:
    """Back to the previous release: its kept container when it exists (instant), else its image."""
    d = _run_on(d)
    record = RunRecord()

    def body(state: HostState, switch: SwitchState) -> Outcome:
        started = time.monotonic()
        active = state.active_state
        if (
            to is None
            and active is not None
            and active.release is not None
            and last_deploy_never_switched(d, active)
        ):
            # Undoing a deploy that failed before its switch: this host still serves what it served before,
            # so there is nothing to change here (not even nginx, which may be what failed).
            d.reporter.line(
                f"  the last deploy here failed before switching: {short_sha(active.sha)} still serves"
            )
            seconds = time.monotonic() - started
            return Outcome(
                "rollback", active.release, active.slot, None, False, seconds,
                timings=d.reporter.timings, record=record,
            )  # fmt: skip
        choice = choose_rollback(d, state, to, image_repository)
        release = choice.release
        if active is not None and active.running and active.sha == release.sha:
            return _converge_active(d, state, active, release, "rollback", record, switch)
        d.reporter.line(
            f"  rolling back {short_sha(active.sha if active else None)} -> {short_sha(release.sha)}"
        )
        reading = database.start_schema_read(d, active) if active is not None else None

        def check_schema() -> None:
            if reading is not None:
                database.schema_check(d, reading, release, choice.labels, record)

        activation = _activate(
            d, state, choice.slot, release,
            reuse_container=choice.reuse_container, record=record, switch=switch, before_switch=check_schema,
        )  # fmt: skip
        previous = active.release if active else None
        seconds = time.monotonic() - started
        return Outcome(
            "rollback", release, choice.slot, previous, True, seconds,
            activation.cutover_s, activation.health_s, d.reporter.timings, record,
        )  # fmt: skip

    return _locked(d, "rollback", record, body)
