"""The blue-green state machine (ARCHITECTURE.md, "A deploy, step by step").

lock -> read state -> image -> env file -> pre-switch hooks -> start candidate -> health gate -> switch
-> verify through nginx -> drain -> stop the old slot (kept for rollback) -> audit -> unlock.

Every step reads the host's truth first, so running the same command again after a crash converges.
A failure before the switch removes the candidate; a failure at or after it restores the previous
upstream, so the previous release keeps serving.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shipflow.deploy import audit, commands, health, lock, migration, proxy
from shipflow.deploy.commands import UPSTREAM_HEADER, Release, Slot
from shipflow.deploy.state import HostState, SlotState, read_state
from shipflow.hosts.base import HostError

if TYPE_CHECKING:
    from collections.abc import Callable

    from shipflow.deploy.settings import DeploySettings, TargetSettings
    from shipflow.hosts.base import Host
    from shipflow.report import Reporter

VERIFY_SECONDS = 10.0


class DeployFailed(Exception):
    """The deploy stopped; the message is one paragraph saying what happened, what serves now, what to do."""


@dataclass
class Deployment:
    """Everything one run of the engine needs; the host may be a dry run."""

    settings: DeploySettings
    target: TargetSettings
    host: Host
    reporter: Reporter
    actor: lock.Actor
    env_file: bytes = b""
    dry_run: bool = False
    lock_wait: float = 0.0
    ensure_image: Callable[[Host, Release], None] | None = None
    pre_switch: list[tuple[str, ...]] = field(default_factory=list)
    audit_extra: dict[str, Any] = field(default_factory=dict)  # e.g. the database's revisions
    smoke_check: Callable[[Deployment, Release], None] | None = None  # after the switch; raises DeployFailed
    prune: tuple[str, int] | None = None  # (the images' shipflow.app label, how many release images to keep)


@dataclass(frozen=True)
class Outcome:
    """What a deploy or rollback did; ``cutover_s`` runs from health passed to nginx serving it."""

    action: str
    release: Release
    slot: Slot
    previous: Release | None
    changed: bool
    seconds: float
    cutover_s: float | None = None
    health_s: float | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "nothing"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _run(d: Deployment, argv: list[str]) -> None:
    d.host.run(argv).check(d.host.name)


# --- images ---------------------------------------------------------------------------------------


def release_of_image(host: Host, reference: str) -> Release:
    """The release an image on ``host`` carries, from its OCI labels."""
    found = host.query(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", reference])
    if not found.ok:
        raise DeployFailed(
            f"image {reference} is not on {host.name}: build it first (`inv build`) or pick another with --to"
        )
    return Release.from_labels(reference, json.loads(found.stdout or "null") or {})


def _ensure_image(d: Deployment, release: Release) -> None:
    if d.ensure_image is not None:
        d.ensure_image(d.host, release)
    elif not d.host.query(["docker", "image", "inspect", "--format", "{{.Id}}", release.image]).ok:
        raise DeployFailed(f"image {release.image} is not on {d.host.name}: build it first with `inv build`")


# --- steps -----------------------------------------------------------------------------------------


def _write_env_file(d: Deployment, path: str, release: Release) -> None:
    """Mode 0600, owned by the user the image runs as, so only that user (and root) can read it."""
    d.host.write_file(path, d.env_file, mode=0o600)
    user = d.host.query(["docker", "image", "inspect", "--format", "{{.Config.User}}", release.image])
    name = user.stdout.strip().split(":", 1)[0]
    if user.ok and name not in ("", "root", "0"):
        _run(d, ["chown", _uid_in_image(d, release.image, name), path])


def _uid_in_image(d: Deployment, image: str, name: str) -> str:
    """The numeric uid of ``name``: the host may not know the image's user, or by another number."""
    if name.isdigit():
        return name
    found = d.host.query(["docker", "run", "--rm", "--entrypoint", "id", image, "-u"])
    uid = found.stdout.strip()
    if not (found.ok and uid.isdigit()):
        raise DeployFailed(f"cannot tell the uid of user {name!r} in {image}: {found.stderr.strip()}")
    return uid


def _start_candidate(d: Deployment, slot: Slot, release: Release) -> None:
    revision = d.audit_extra.get(migration.AFTER)
    extra = {migration.REVISION_LABEL: revision} if revision else {}
    _run(
        d,
        commands.run_container(
            d.settings, d.target, slot, release, deployed_at=_now(), deployed_by=d.actor.user, **extra
        ),
    )


def _migrate(d: Deployment, slot: Slot, release: Release) -> None:
    """``alembic upgrade head`` before the candidate starts; a failure stops the deploy right here."""
    with d.reporter.step("migrate", "alembic upgrade head (one-off container)"):
        run = migration.upgrade_head(d.host, d.settings, d.target, slot, release)
        d.audit_extra.update({migration.BEFORE: run.before, migration.AFTER: run.after})
        if not run.ok:
            d.reporter.line("  alembic's last lines:")
            for line in run.output.splitlines()[-20:]:
                d.reporter.line(f"    | {line}")
            raise DeployFailed(
                f"the migrations of release {_short(release.sha)} failed (`alembic upgrade head` in a "
                f"one-off container of {release.image}); the database is at revision {run.after or 'base'} "
                f"(it was at {run.before or 'base'}). The new release was not started and nginx was not "
                "touched, so the previous release keeps serving. alembic's output is above: fix the "
                "migration in a new commit and deploy again."
            )
    if run.before != run.after:
        d.reporter.line(f"  database: {run.before or 'base'} -> {run.after or 'base'}")


def _warn_schema_change(d: Deployment, active: SlotState, release: Release, labels: dict[str, str]) -> None:
    """A rollback to a release deployed at another database revision: say so, naming both revisions."""
    if active.release is None:
        return
    revision = migration.database_revision(d.host, d.settings, d.target, active.slot, active.release)
    current = None if revision == "base" else revision  # audit records say null at base, as upgrades do
    wanted = migration.revision_of_release(d.host, d.target, release, labels)
    d.audit_extra.update({migration.BEFORE: current, migration.AFTER: current})
    if current and wanted and current != wanted:
        d.reporter.line(
            f"  warning: rolling back across a schema change: {_short(release.sha)} went live with the "
            f"database at revision {wanted}; it is now at {current}, and a rollback does not downgrade it. "
            f"If the old release cannot work with revision {current}, run `alembic downgrade {wanted}` in a "
            "one-off container of the current release first."
        )


def _best_effort(d: Deployment, what: str, action: Callable[[], None]) -> None:
    """Cleanup after a failure: its own failure is a warning, never a replacement for the first error."""
    try:
        action()
    except Exception as error:
        d.reporter.line(f"  warning: could not {what}: {error}")


def _undo_candidate(
    d: Deployment, candidate: SlotState, *, kept_release: bool, started: bool, moved: bool
) -> None:
    """After a failure: a kept release (a rollback's) is only stopped; a new candidate is removed, and the
    release it had moved aside (``moved``) gets its slot back, env file included."""
    container = candidate.container
    if kept_release:
        _best_effort(d, f"stop {container}", lambda: _run(d, commands.stop_container(container, 0)))
        return
    if started:
        _best_effort(d, f"remove {container}", lambda: _run(d, commands.remove_container(container)))
    if moved:
        _best_effort(d, f"put {container} back", lambda: _put_back(d, candidate.slot, container))


def _step_aside(d: Deployment, slot: Slot, state: SlotState) -> None:
    """The slot's older release makes room rather than being removed, so that a failed deploy can put it
    back and a rollback afterwards still finds its container (and its env file)."""
    if state.running:
        _run(d, commands.stop_container(state.container, d.target.stop_timeout))
    env_file = commands.env_file_path(d.target, slot)
    _run(d, commands.move_file_if_present(env_file, commands.aside_env_file_path(d.target, slot)))
    _run(d, commands.rename_container(state.container, commands.aside_name(state.container)))


def _put_back(d: Deployment, slot: Slot, container: str) -> None:
    _run(d, commands.rename_container(commands.aside_name(container), container))
    aside_env = commands.aside_env_file_path(d.target, slot)
    _run(d, commands.move_file_if_present(aside_env, commands.env_file_path(d.target, slot)))


def _drop_aside(d: Deployment, slot: Slot, container: str) -> None:
    """After a switch: the release the candidate replaced is two releases old, so it goes."""
    aside = commands.aside_name(container)
    _best_effort(d, f"remove {aside}", lambda: _run(d, commands.remove_container(aside)))
    _best_effort(
        d, "remove its env file", lambda: _run(d, ["rm", "-f", commands.aside_env_file_path(d.target, slot)])
    )


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
        if slot_state.exists:  # the candidate that never switched
            _run(d, commands.remove_container(slot_state.container))
        _put_back(d, slot_state.slot, slot_state.container)
        d.reporter.line(f"  put {slot_state.container} back from an unfinished deploy")
    return read_state(d.host, d.settings, d.target)


def _health_gate(d: Deployment, slot: Slot, release: Release, container: str) -> health.HealthOutcome | None:
    url = f"http://127.0.0.1:{slot.port}{d.settings.health.path}"
    if d.dry_run:
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
        f"release {_short(release.sha)} in slot {slot.name} (127.0.0.1:{slot.port}) did not pass its health "
        f"check at {d.settings.health.path} within {d.settings.health.deploy_timeout:g} s "
        f"({outcome.probes} probes; last response: {last}). The candidate is removed and nginx was not "
        f"touched, so the previous release keeps serving. Its last log lines are above; fix the release "
        f"and deploy again, or raise [health] deploy_timeout in {d.settings.path}."
    )


def _verify(d: Deployment, slot: Slot) -> None:
    """Ask nginx itself until the new slot answers (a reload takes effect asynchronously)."""
    url = f"{d.target.public_url.rstrip('/')}{d.settings.health.path}"
    if d.dry_run:
        d.reporter.line(f"  would check {url} answers 200 from 127.0.0.1:{slot.port}")
        return
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
        if status == 200 and (not routed or routed[0].endswith(f":{slot.port}")):
            return
        time.sleep(0.05)
    raise HostError(
        f"{url} did not answer 200 from slot {slot.name} within {VERIFY_SECONDS:g} s (last: {status})"
    )


def _switch_verify(d: Deployment, slot: Slot) -> proxy.Switched:
    """Switch nginx to ``slot`` and verify; on a failed verify put the previous upstream back."""
    with d.reporter.step("switch", f"nginx -> {slot.name} (127.0.0.1:{slot.port})"):
        switched = proxy.switch(d.host, d.settings, d.target, slot)
    try:
        with d.reporter.step("verify", f"through {d.target.public_url}"):
            _verify(d, slot)
    except BaseException:
        previous = switched.previous_text
        if previous is not None:

            def restore() -> None:
                d.host.write_file(d.target.upstream_path, previous.encode())
                _run(d, list(d.target.nginx_reload))

            _best_effort(d, "put the previous upstream back", restore)
        raise
    return switched


def _drain_and_stop(d: Deployment, switched: proxy.Switched, old: SlotState | None) -> None:
    if d.dry_run:
        d.reporter.line(f"  would wait for nginx's old workers (at most {d.target.drain_timeout:g} s)")
    else:
        with d.reporter.step("drain", f"{len(switched.old_workers)} old nginx workers"):
            if not proxy.drain(d.host, switched.old_workers, d.target.drain_timeout):
                d.reporter.line(f"  warning: old nginx workers still busy after {d.target.drain_timeout:g} s")
    if old is not None and old.running:
        with d.reporter.step("stop old", f"{old.container} (kept for rollback)"):
            _run(d, commands.stop_container(old.container, d.target.stop_timeout))


def _activate(
    d: Deployment,
    state: HostState,
    slot: Slot,
    release: Release,
    *,
    reuse_container: bool,
    migrate: bool = False,
) -> tuple[float | None, float | None]:
    """Bring ``release`` up in ``slot`` and route to it; returns (health seconds, cutover seconds)."""
    candidate = state.of(slot)
    old = state.active_state if state.active and state.active != slot else None
    path = commands.env_file_path(d.target, slot)
    if not reuse_container:
        with d.reporter.step("image", release.image):
            _ensure_image(d, release)
    started = moved = False
    try:
        if not reuse_container:
            if candidate.exists:
                with d.reporter.step("aside", f"{candidate.container} ({_short(candidate.sha)}) makes room"):
                    _step_aside(d, slot, candidate)
                moved = True
            with d.reporter.step("env file", f"{path} (0600)"):
                _write_env_file(d, path, release)
            if migrate and d.settings.migrate == "before-switch":
                _migrate(d, slot, release)
            for command in d.pre_switch:
                with d.reporter.step("hook", " ".join(command)):
                    _run(d, commands.one_off(d.settings, d.target, slot, release, command))
            with d.reporter.step("start", f"{candidate.container} on 127.0.0.1:{slot.port}"):
                started = True
                _start_candidate(d, slot, release)
        elif not candidate.running:
            with d.reporter.step("start", f"{candidate.container} (existing container)"):
                _run(d, commands.start_container(candidate.container))
        with d.reporter.step("health", f"{d.settings.health.path} on 127.0.0.1:{slot.port}"):
            passed = _health_gate(d, slot, release, candidate.container)
        healthy_at = time.monotonic()
        switched = _switch_verify(d, slot)
    except BaseException:
        _undo_candidate(d, candidate, kept_release=reuse_container, started=started, moved=moved)
        raise
    cutover = time.monotonic() - healthy_at
    _drain_and_stop(d, switched, old)
    if moved:
        _drop_aside(d, slot, candidate.container)
    return (passed.seconds if passed else None), (None if d.dry_run else cutover)


# --- commands --------------------------------------------------------------------------------------


def _locked(d: Deployment, action: str, body: Callable[[HostState], Outcome]) -> Outcome:
    """Run ``body`` under the host lock and record the result in the audit log, whatever it is."""
    lock_file = commands.lock_path(d.target)
    started = time.monotonic()
    if d.dry_run:
        d.reporter.line(f"  would lock {d.host.name}:{lock_file}")
    else:
        with d.reporter.step("lock", lock_file):
            replaced = lock.acquire(d.host, lock_file, d.actor, wait=d.lock_wait)
        if replaced is not None:
            d.reporter.line(f"  took over a stale lock of {replaced.describe()}")
    state: HostState | None = None
    try:
        with d.reporter.step("read state"):
            state = _settle_asides(d, read_state(d.host, d.settings, d.target))
        outcome = body(state)
    except BaseException as error:
        detail = str(error) or type(error).__name__
        _best_effort(
            d,
            "record the failure in the audit log",
            lambda: _record(d, action, "failed", started, state, None, detail=detail),
        )
        _best_effort(d, f"release the lock {lock_file}", lambda: _unlock(d, lock_file))
        raise
    try:
        _record(d, action, "ok", started, state, outcome)
    finally:
        _unlock(d, lock_file)
    return outcome


def _unlock(d: Deployment, lock_file: str) -> None:
    if not d.dry_run:
        lock.release(d.host, lock_file, d.actor)


def _record(
    d: Deployment,
    action: str,
    result: str,
    started: float,
    state: HostState | None,
    outcome: Outcome | None,
    *,
    detail: str = "",
) -> None:
    if d.dry_run:
        return
    active = state.active_state if state else None
    record = audit.AuditRecord(
        action=action,
        result=result,
        at=_now(),
        by=f"{d.actor.user}@{d.actor.machine}",
        environment=d.target.environment,
        from_sha=active.sha if active else None,
        to_sha=outcome.release.sha if outcome else None,
        version=outcome.release.version if outcome else None,
        slot=outcome.slot.name if outcome else None,
        duration_s=round(time.monotonic() - started, 3),
        detail=d.reporter.mask(detail),
        extra={**({"image": outcome.release.image} if outcome else {}), **d.audit_extra},
    )
    audit.append(d.host, commands.audit_log_path(d.target), record)


def _converge_active(
    d: Deployment, state: HostState, active: SlotState, release: Release, action: str
) -> Outcome:
    """``release`` already runs in the active slot: re-apply the switch and stop the other slot."""
    d.reporter.line(f"  {_short(active.sha)} already serves from {active.slot.name}; converging")
    started = time.monotonic()
    switched = _switch_verify(d, active.slot)
    _drain_and_stop(d, switched, state.of(commands.other_slot(d.target, active.slot)))
    return Outcome(action, release, active.slot, None, False, time.monotonic() - started)


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
        _best_effort(d, "prune old release images", prune)
    if removed:
        d.reporter.line(f"  removed {len(removed)} old release image(s)")


def deploy(d: Deployment, release: Release) -> Outcome:
    """Deploy ``release`` blue-green; raise :class:`DeployFailed` with the previous release still serving."""

    def body(state: HostState) -> Outcome:
        started = time.monotonic()
        active = state.active_state
        if active is not None and active.running and active.sha == release.sha:
            return _converge_active(d, state, active, release, "deploy")
        slot = commands.other_slot(d.target, active.slot) if active else commands.slots_of(d.target)[0]
        health_s, cutover = _activate(d, state, slot, release, reuse_container=False, migrate=True)
        if d.smoke_check is not None and not d.dry_run:
            d.smoke_check(d, release)
        _prune_images(d, release)

        previous = active.release if active else None
        return Outcome(
            "deploy",
            release,
            slot,
            previous,
            True,
            time.monotonic() - started,
            cutover,
            health_s,
            d.reporter.timings,
        )

    return _locked(d, "deploy", body)


def _previous_from_audit(d: Deployment, current_sha: str | None) -> Release:
    for record in reversed(audit.read(d.host, commands.audit_log_path(d.target))):
        image = record.extra.get("image")
        if (
            record.result == "ok"
            and record.to_sha
            and record.to_sha != current_sha
            and isinstance(image, str)
        ):
            return release_of_image(d.host, image)
    raise DeployFailed(
        f"no previous release of {d.target.environment} on {d.host.name} to roll back to; use --to"
    )


def _image_for(host: Host, repository: str, wanted: str) -> str:
    """``repository:TAG`` for a tag (``v1.4.0``), a full sha, or a sha prefix naming exactly one tag."""
    listed = host.query(["docker", "image", "ls", repository, "--format", "{{.Tag}}"])
    tags = set(listed.stdout.split())
    if wanted in tags:
        return f"{repository}:{wanted}"
    matches = sorted(tag for tag in tags if tag.startswith(wanted) and not tag.endswith("-dirty"))
    if len(matches) > 1:
        raise DeployFailed(f"--to {wanted} names several releases of {repository}: {', '.join(matches)}")
    return f"{repository}:{matches[0] if matches else wanted}"


def _last_deploy_never_switched(d: Deployment, active: SlotState) -> bool:
    """Whether the host's last deploy or rollback failed while ``active`` kept serving (before its switch)."""
    records = audit.read(d.host, commands.audit_log_path(d.target))
    last = next((r for r in reversed(records) if r.action in ("deploy", "rollback")), None)
    return last is not None and last.result == "failed" and last.from_sha == active.sha


def rollback(d: Deployment, to: str | None = None, image_repository: str | None = None) -> Outcome:
    """Back to the previous release: its kept container when it exists (instant), else its image."""

    def body(state: HostState) -> Outcome:
        started = time.monotonic()
        active = state.active_state
        if (
            to is None
            and active is not None
            and active.release is not None
            and _last_deploy_never_switched(d, active)
        ):
            # Undoing a deploy that failed before its switch: this host still serves what it served before,
            # so there is nothing to change here (not even nginx, which may be what failed).
            d.reporter.line(
                f"  the last deploy here failed before switching: {_short(active.sha)} still serves"
            )
            return Outcome("rollback", active.release, active.slot, None, False, time.monotonic() - started)
        spare_slot = commands.other_slot(d.target, active.slot) if active else commands.slots_of(d.target)[0]
        spare = state.of(spare_slot)
        kept = spare.release
        wanted_kept = kept is not None and (to is None or kept.sha.startswith(to) or kept.version == to)
        if kept is not None and wanted_kept:
            release, reuse = kept, True
        elif to is not None:
            reference = _image_for(d.host, image_repository or d.settings.app, to)
            release, reuse = release_of_image(d.host, reference), False
        else:
            release, reuse = _previous_from_audit(d, active.sha if active else None), False
        if active is not None and active.running and active.sha == release.sha:
            return _converge_active(d, state, active, release, "rollback")
        d.reporter.line(f"  rolling back {_short(active.sha if active else None)} -> {_short(release.sha)}")
        if active is not None and d.settings.migrate != "off" and not d.dry_run:
            _warn_schema_change(d, active, release, spare.labels if reuse else {})
        health_s, cutover = _activate(d, state, spare_slot, release, reuse_container=reuse)
        previous = active.release if active else None
        return Outcome(
            "rollback", release, spare_slot, previous, True, time.monotonic() - started, cutover, health_s
        )

    return _locked(d, "rollback", body)


def unlock(host: Host, target: TargetSettings, actor: lock.Actor) -> lock.Actor | None:
    """Remove the lock whoever holds it; returns the holder it removed (None when there was no lock)."""
    path = commands.lock_path(target)
    if host.read_file(path) is None:
        return None
    holder = lock.read_holder(host, path)
    lock.release(host, path)
    record = audit.AuditRecord(
        action="unlock",
        result="ok",
        at=_now(),
        by=f"{actor.user}@{actor.machine}",
        environment=target.environment,
        detail=f"removed lock of {holder.describe() if holder else 'an unknown holder'}",
    )
    audit.append(host, commands.audit_log_path(target), record)
    return holder


def remove(d: Deployment) -> list[str]:
    """Stop and remove the app's containers and upstream file (and local nginx); images and audit stay."""
    state = read_state(d.host, d.settings, d.target)
    removed = []
    for slot_state in state.slots:
        if slot_state.exists:
            _run(d, commands.remove_container(slot_state.container))
            removed.append(slot_state.container)
    for aside in sorted(state.asides):
        _run(d, commands.remove_container(aside))
        removed.append(aside)
    if d.target.is_local and (d.dry_run or proxy.master_pid(d.host, d.target) is not None):
        _run(d, commands.nginx_stop(d.target))
        removed.append("local nginx")
    if state.upstream_text is not None:
        _run(d, ["rm", "-f", d.target.upstream_path])
        removed.append(d.target.upstream_path)
    if not d.dry_run:
        record = audit.AuditRecord(
            action="remove",
            result="ok",
            at=_now(),
            by=f"{d.actor.user}@{d.actor.machine}",
            environment=d.target.environment,
            from_sha=state.active_state.sha if state.active_state else None,
            detail=", ".join(removed),
        )
        audit.append(d.host, commands.audit_log_path(d.target), record)
    return removed


# --- status ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotReport:
    slot: str
    port: int
    container: str
    state: str  # running | stopped | absent
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


def status(host: Host, settings: DeploySettings, target: TargetSettings, *, last: int = 5) -> StatusReport:
    """Everything a person asks before and after a deploy, read from the host."""
    state = read_state(host, settings, target)
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
                state="running" if slot_state.running else "stopped" if slot_state.exists else "absent",
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
    return StatusReport(
        environment=target.environment,
        host=host.name,
        url=target.public_url,
        active_slot=state.active.name if state.active else None,
        release=active,
        slots=reports,
        lock=lock_info,
        last_releases=releases,
    )
