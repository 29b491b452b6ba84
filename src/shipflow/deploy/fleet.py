"""One environment, several servers: the same engine run per host, one host at a time by default.

Each host gets a full blue-green switch. The first failure stops the rollout (hosts not started yet are
left alone, hosts already switched keep the new release), and the result says which host serves which
release, so a person (or ``inv deploy.rollback``, which runs per host too) can act on it.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipflow.deploy import transfer
from shipflow.deploy.state import read_state
from shipflow.hosts.base import HostError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from shipflow.deploy.commands import Release
    from shipflow.deploy.engine import Deployment, Outcome


@dataclass
class HostResult:
    """How one host ended: its outcome, or the error that stopped it, or not started."""

    host: str
    outcome: Outcome | None = None
    error: BaseException | None = None
    started: bool = False
    serving: str | None = None  # the release nginx routes to afterwards, as "version (sha)"


@dataclass
class FleetResult:
    results: list[HostResult] = field(default_factory=list)

    @property
    def first_error(self) -> BaseException | None:
        return next((r.error for r in self.results if r.error is not None), None)


def _short(release: Release | None) -> str:
    return f"{release.version} ({release.sha[:12]})" if release else "nothing"


def serving(d: Deployment) -> str:
    """The release ``d``'s host serves now, read from the host."""
    try:
        active = read_state(d.host, d.settings, d.target).active_state
    except HostError as error:
        return f"unknown ({error})"
    return _short(active.release if active else None)


def run_fleet(
    deployments: Sequence[Deployment], action: Callable[[Deployment], Outcome], *, parallel: int = 1
) -> FleetResult:
    """Run ``action`` on each deployment (``parallel`` at a time); stop starting hosts after a failure.

    Any exception ``action`` raises is recorded as that host's error (so ``first_error`` fails the deploy,
    whichever thread it happened in); an interrupt (Ctrl-C, ``SystemExit``) is recorded and re-raised.
    """
    results = [HostResult(d.host.name) for d in deployments]

    def one(index: int) -> None:
        results[index].started = True
        try:
            results[index].outcome = action(deployments[index])
        except BaseException as error:
            results[index].error = error
            if not isinstance(error, Exception):
                raise

    if parallel <= 1 or len(deployments) == 1:
        for index in range(len(deployments)):
            one(index)
            if results[index].error is not None:
                break
    else:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            submitted: list[Future[None]] = []
            running: set[Future[None]] = set()
            for index in range(len(deployments)):
                if any(r.error is not None for r in results):
                    break
                future = pool.submit(one, index)
                submitted.append(future)
                running.add(future)
                if len(running) >= parallel:
                    _, pending = wait(running, return_when=FIRST_COMPLETED)
                    running = set(pending)
            wait(running)
        for future in submitted:
            future.result()  # re-raises an interrupt a worker recorded; every other error is in results
    if len(deployments) > 1 or results[0].error is not None:
        for d, result in zip(deployments, results, strict=True):
            result.serving = serving(d)
    return FleetResult(results)


def result_lines(result: FleetResult) -> list[str]:
    """One line per host: what happened and what it serves now."""
    lines = []
    for entry in result.results:
        if entry.outcome is not None:
            verb = "deployed" if entry.outcome.action == "deploy" else "rolled back to"
            if not entry.outcome.changed:
                verb = "already serving"
            state = f"{verb} {_short(entry.outcome.release)}"
        elif entry.error is not None:
            state = "FAILED"
        else:
            state = "not started (stopped after a failure)"
        now = f"; serves {entry.serving}" if entry.serving and entry.outcome is None else ""
        lines.append(f"  {entry.host}: {state}{now}")
    return lines


# --- the plan and the approval --------------------------------------------------------------------


@dataclass(frozen=True)
class HostPlan:
    host: str
    current: Release | None
    new: Release
    database: str | None = None  # the revision its database is at ("base": none applied); None: unknown


def plan(deployments: Sequence[Deployment], release: Release) -> list[HostPlan]:
    """Each host's current release and database revision (read from it) and the release it will get."""
    from shipflow.deploy.migration import database_revision

    plans = []
    for d in deployments:
        active = read_state(d.host, d.settings, d.target).active_state
        current = active.release if active and active.running else None
        database = None
        if active is not None and current is not None and d.settings.migrate != "off":
            database = database_revision(d.host, d.settings, d.target, active.slot, current)
        plans.append(HostPlan(d.host.name, current, release, database))
    return plans


def migrations_note(migrate: str) -> str:
    if migrate == "off":
        return 'none run by the deploy (migrate = "off")'
    when = "before the switch" if migrate == "before-switch" else "when the container starts"
    return f'unknown until the host is reached: `alembic upgrade head` runs {when} (migrate = "{migrate}")'


def pending_lines(
    plans: Sequence[HostPlan], migrate: str, pending_for: Callable[[str], list[str] | None] | None
) -> list[str]:
    """What the approval shows of migrations: per host, those its database lacks, when both are known.

    ``pending_for(revision)`` lists the new release's migrations after ``revision`` (None: cannot tell).
    """
    if migrate == "off" or pending_for is None:
        return [f"  migrations pending: {migrations_note(migrate)}"]
    lines = []
    for entry in plans:
        if entry.current is None:
            found = pending_for("base")
            listed = "unknown" if found is None else ", ".join(found) or "none"
            at = "nothing deployed yet: every migration of the release, on whatever database it finds"
            lines.append(f"  migrations on {entry.host}: {at} ({listed})")
            continue
        found = pending_for(entry.database) if entry.database else None
        if found is None:
            lines.append(f"  migrations pending on {entry.host}: {migrations_note(migrate)}")
        else:
            listed = ", ".join(found) if found else "none"
            lines.append(f"  migrations pending on {entry.host} (database at {entry.database}): {listed}")
    return lines


def plan_lines(
    environment: str,
    plans: Sequence[HostPlan],
    migrate: str,
    parallel: int,
    pending_for: Callable[[str], list[str] | None] | None = None,
) -> list[str]:
    order = "one at a time" if parallel <= 1 else f"{parallel} at a time"
    lines = [f"plan: deploy to {environment}, {len(plans)} host(s), {order}:"]
    for entry in plans:
        same = (
            " (already serving: converge only)"
            if entry.current and entry.current.sha == entry.new.sha
            else ""
        )
        lines.append(f"  {entry.host}: {_short(entry.current)} -> {_short(entry.new)}{same}")
    lines.extend(pending_lines(plans, migrate, pending_for))
    return lines


class ApprovalImpossible(Exception):
    """Approval is required and there is no terminal to ask on."""


def approve(*, yes: bool, interactive: bool, ask: Callable[[str], str]) -> bool:
    """``--yes`` approves; else ask y/N on a terminal; without one, raise :class:`ApprovalImpossible`."""
    if yes:
        return True
    if not interactive:
        raise ApprovalImpossible(
            "this deploy needs approval and there is no terminal to ask on: pass --yes "
            "(in CI, after the environment's reviewers approved the job)"
        )
    return ask("deploy? [y/N] ").strip().lower() in ("y", "yes")


# --- the image on every host ----------------------------------------------------------------------


def hosts_lacking(deployments: Sequence[Deployment], image_id: str) -> list[str]:
    """The hosts that do not have ``image_id`` yet (asked, never assumed)."""
    from shipflow.images.facts import host_has_image

    return [d.host.name for d in deployments if not host_has_image(d.host, image_id)]


def use_image(deployments: Sequence[Deployment], image: transfer.LocalImage, registry: str | None) -> None:
    """Make each deployment bring ``image`` to its host when absent, recording how in its audit record."""
    for d in deployments:

        def ensure(host: object, release: Release, d: Deployment = d) -> None:
            result = transfer.ensure_image(d.host, image, d.reporter, registry=registry)
            d.audit_extra["image_id"] = image.image_id
            d.audit_extra["transfer"] = result.audit()

        d.ensure_image = ensure
