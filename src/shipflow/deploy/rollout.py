"""A release across an environment's hosts: plan it (guards, the image to ship, each host's current and new
release, the migrations each database lacks), approve it, publish it, and run one blue-green switch per host.

:func:`plan_rollout` only reads; :func:`run_rollout` changes hosts. Both raise domain errors (refused, not
approved, locked, failed) and leave exit codes to the task layer. :func:`deploy_here` and
:func:`roll_back` are the same for this machine's target and for a rollback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

from shipflow.deploy import bluegreen, fleet, migration, transfer
from shipflow.deploy.commands import Release
from shipflow.deploy.present import outcome_line
from shipflow.deploy.releases import release_of_image
from shipflow.deploy.state import read_state
from shipflow.errors import BadInput, Refused

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from shipflow.deploy.context import Deployment
    from shipflow.deploy.session import Session
    from shipflow.images.progress import BuildOutput
    from shipflow.report import Reporter


class ApprovalImpossible(BadInput):
    """Approval is required and there is no terminal to ask on."""


class NotApproved(Refused):
    """The person asked said no."""

    label = "not approved"


@dataclass(frozen=True)
class RolloutRequest:
    """What the person asked for: which image (default: HEAD built here), and how to roll out."""

    image: str | None = None
    image_archive: Path | None = None
    force: bool = False
    parallel: int = 1
    verbose_build: bool = False  # show docker's whole output when HEAD is built


@dataclass(frozen=True)
class HostPlan:
    host: str
    current: Release | None
    new: Release
    database: str | None = None  # the revision its database is at ("base": none applied); None: unknown
    recorded: bool = False  # ``database`` is what the live release's label recorded, not read now


@dataclass(frozen=True)
class RolloutPlan:
    """Everything decided before any host changes; ``lines`` is what the approval shows."""

    environment: str
    image: transfer.LocalImage
    hosts: tuple[HostPlan, ...]
    forced: tuple[str, ...]
    parallel: int
    registry: str | None
    publish: bool  # the registry lacks it on some host: push once before the hosts pull
    archive: Path | None
    lines: tuple[str, ...]
    build_s: float | None = None  # HEAD built for this rollout: how long that took
    promoted_from: str | None = None  # the environment whose gates proved the image (a promotion)

    @property
    def needs_approval(self) -> bool:
        return self.environment == "production"


@dataclass(frozen=True)
class RolloutResult:
    """How each host ended."""

    hosts: fleet.FleetResult


# --- the plan --------------------------------------------------------------------------------------


def _guards(session: Session, force: bool) -> tuple[str, ...]:
    """The git guards' refusals; without --force any refusal stops here, nothing changed."""
    from shipflow.deploy import guards
    from shipflow.release import git
    from shipflow.release.branches import git_settings

    settings = git_settings(session.project)
    root = git.repo_root(session.project.root)
    facts = guards.read_git_facts(root, session.environment, settings.model, settings.remote)
    found = guards.refusals(facts, session.environment, settings.model)
    if found and not force:
        listing = "\n".join(f"  - {reason}" for reason in found)
        raise Refused(f"nothing changed:\n{listing}\npass --force to override (it is kept in the audit log)")
    for reason in found:
        session.line(f"!!! WARNING: --force: deploying to {session.environment} although {reason}")
    return tuple(found)


@dataclass(frozen=True)
class Built:
    """HEAD built for a deploy: its first tag, and the wall time of the build (base image included)."""

    reference: str
    seconds: float


def build_output(reporter: Reporter, *, verbose: bool) -> BuildOutput:
    """A build's output through ``reporter`` (masked), with a progress line when it prints to a terminal."""
    from shipflow.images.progress import output_to

    return output_to(reporter.stream, reporter.line, mask=reporter.mask, verbose=verbose)


def build_for_deploy(session: Session, *, allow_dirty: bool, reporter: Reporter, verbose: bool) -> Built:
    """Build HEAD (or find every step in docker's cache) for the session's environment, timed; each step
    and the image built are shown on ``reporter``."""
    from shipflow.images.build import build_head, built_line

    started = time.monotonic()
    output = build_output(reporter, verbose=verbose)
    built = build_head(session.project, session.environment, allow_dirty=allow_dirty, output=output)
    output.line(built_line(built, session.environment))
    return Built(built.tags[0], time.monotonic() - started)


def _image_to_ship(session: Session, request: RolloutRequest) -> tuple[transfer.LocalImage, float | None]:
    """An archive, an image of this machine's engine, or HEAD built once for all hosts (with the build's
    seconds)."""
    from shipflow.images.build import head_release_reference

    if request.image_archive is not None:
        return transfer.archive_image(request.image_archive), None
    if request.image is not None:
        return transfer.engine_image(session.here, request.image), None
    if session.here.rehearses:
        reference = head_release_reference(session.project, session.environment, allow_dirty=request.force)
        try:
            return transfer.engine_image(session.here, reference), None
        except transfer.TransferFailed:
            session.line(f"  would build {reference} (`inv build`)")
            release = Release(image=reference, sha=reference.rsplit(":", 1)[-1], version="(not built)")
            origin = "build of HEAD (not built yet)"
            return transfer.LocalImage(release, reference, lambda: iter(()), origin), None
    built = build_for_deploy(
        session, allow_dirty=request.force, reporter=session.first.reporter, verbose=request.verbose_build
    )
    return transfer.engine_image(session.here, built.reference), built.seconds


def _host_plan(d: Deployment, release: Release) -> HostPlan:
    """The host's current release, its database revision and the release it will get. The revision is the
    one the live release's label recorded when it went live (the deploy reads the database itself before
    it skips a migration), else read through the live release."""
    active = read_state(d.host, d.settings, d.target).active_state
    current = active.release if active and active.running else None
    if active is None or current is None or d.settings.migrate == "off":
        return HostPlan(d.host.name, current, release)
    recorded = active.label(migration.REVISION_LABEL)
    if recorded:
        return HostPlan(d.host.name, current, release, recorded, recorded=True)
    return HostPlan(d.host.name, current, release, migration.database_revision(d, active))


def migrations_note(migrate: str) -> str:
    """When the deploy runs migrations (``migrate``), in words."""
    if migrate == "off":
        return 'none run by the deploy (migrate = "off")'
    when = "before the switch" if migrate == "before-switch" else "when the container starts"
    return f'`alembic upgrade head` runs {when} (migrate = "{migrate}")'


NOT_BUILT_HERE = "the image was not built from this checkout, so its migrations are not listed here"


def pending_lines(
    plans: Sequence[HostPlan],
    migrate: str,
    pending_for: Callable[[str], list[str] | None] | None,
    image_head: str | None = None,
) -> list[str]:
    """What the approval shows of migrations: per host, those its database lacks, when both are known,
    else why not.

    ``pending_for(revision)`` lists the new release's migrations after ``revision`` (None: cannot tell);
    it is None itself when the release is not this checkout's build, and then ``image_head`` (the head
    the image's label names) still tells whether anything is pending.
    """
    if migrate == "off":
        return [f"  migrations pending: {migrations_note(migrate)}"]
    return [_pending_line(entry, migrate, pending_for, image_head) for entry in plans]


def _pending_line(
    entry: HostPlan,
    migrate: str,
    pending_for: Callable[[str], list[str] | None] | None,
    image_head: str | None,
) -> str:
    runs = migrations_note(migrate)
    if entry.current is None:
        found = pending_for("base") if pending_for else None
        listed = "unknown" if found is None else ", ".join(found) or "none"
        at = "nothing deployed yet: every migration of the release, on whatever database it finds"
        return f"  migrations on {entry.host}: {at} ({listed})"
    if entry.database is None:
        return (
            f"  migrations pending on {entry.host}: unknown: its database's revision could not be read "
            f"through the serving release; {runs}"
        )
    how = ", as recorded when the live release started; read again before the deploy skips any"
    on = f"  migrations pending on {entry.host} (database at {entry.database}{how if entry.recorded else ''})"
    if migration.at_head(image_head, entry.database):
        return f"{on}: none (the release's head is {image_head} too)"
    found = pending_for(entry.database) if pending_for else None
    if found is not None:
        return f"{on}: {', '.join(found) if found else 'none'}"
    if pending_for is not None:
        return f"{on}: unknown: this checkout's migrations do not know revision {entry.database}; {runs}"
    if image_head:
        return f"{on}: up to the release's head {image_head} ({NOT_BUILT_HERE}); {runs}"
    return f"{on}: unknown: {NOT_BUILT_HERE}; {runs}"


def plan_lines(
    environment: str,
    plans: Sequence[HostPlan],
    migrate: str,
    parallel: int,
    pending_for: Callable[[str], list[str] | None] | None = None,
    image_head: str | None = None,
) -> list[str]:
    order = "one at a time" if parallel <= 1 else f"{parallel} at a time"
    lines = [f"plan: deploy to {environment}, {len(plans)} host(s), {order}:"]
    for entry in plans:
        same = (
            " (already serving: converge only)"
            if entry.current and entry.current.sha == entry.new.sha
            else ""
        )
        current, new = fleet.short_release(entry.current), fleet.short_release(entry.new)
        lines.append(f"  {entry.host}: {current} -> {new}{same}")
    lines.extend(pending_lines(plans, migrate, pending_for, image_head))
    return lines


def hosts_lacking(deployments: Sequence[Deployment], image_id: str) -> list[str]:
    """The hosts that do not have ``image_id`` yet (asked, never assumed)."""
    from shipflow.images.facts import host_has_image

    return [d.host.name for d in deployments if not host_has_image(d.host, image_id)]


def plan_rollout(session: Session, request: RolloutRequest) -> RolloutPlan:
    """Guards, the image to ship (HEAD is built here once), and each host's current -> new release."""
    from shipflow.db.pending import pending_in_project

    if request.parallel < 1:
        raise BadInput("--parallel must be 1 or more")
    if request.image is not None and request.image_archive is not None:
        raise BadInput("give --image or --image-archive, not both")
    if session.target.is_local:
        raise BadInput(
            f"target {session.target.name} of {session.environment} is this machine: use `inv deploy.local`"
        )
    forced = _guards(session, request.force)
    image, build_s = _image_to_ship(session, request)
    hosts = tuple(_host_plan(d, image.release) for d in session.deployments)
    # The checkout's migrations are the release's only when the release is this checkout's build.
    built_here = request.image is None and request.image_archive is None
    pending_for = partial(pending_in_project, session.project) if built_here else None
    head = migration.head_in(image.labels)
    lines = plan_lines(
        session.environment, hosts, session.settings.migrate, request.parallel, pending_for, head
    )
    registry = session.target.registry
    publish = registry is not None and bool(hosts_lacking(session.deployments, image.image_id))
    return RolloutPlan(
        session.environment, image, hosts, forced, request.parallel, registry, publish,
        request.image_archive, tuple(lines), build_s,
    )  # fmt: skip


# --- running it ------------------------------------------------------------------------------------


def approve_on_terminal(*, yes: bool, interactive: bool, ask: Callable[[str], str]) -> bool:
    """``--yes`` approves; else ask y/N on a terminal; without one, raise :class:`ApprovalImpossible`."""
    if yes:
        return True
    if not interactive:
        raise ApprovalImpossible(
            "this deploy needs approval and there is no terminal to ask on: pass --yes "
            "(in CI, after the environment's reviewers approved the job)"
        )
    return ask("deploy? [y/N] ").strip().lower() in ("y", "yes")


def deploy_one(
    d: Deployment,
    release: Release,
    delivery: bluegreen.Delivery | None = None,
    *,
    build_s: float | None = None,
) -> bluegreen.Outcome:
    """Deploy ``release`` to ``d``'s host, saying what and where before and how it went after; ``build_s``
    (the image built for this deploy) goes into the host's audit record. A host in lockstep with others
    tells them how it ended."""
    d.reporter.line(f"deploying {release.image} to {d.target.name} ({d.host.name})")
    try:
        outcome = bluegreen.deploy(d, release, delivery, build_s=build_s)
    except BaseException:
        if d.lockstep is not None:  # the other hosts switch back at their next canary step
            d.lockstep.fail()
        raise
    if d.lockstep is not None:  # done: the others no longer wait for this host
        d.lockstep.leave()
    d.reporter.line(outcome_line(outcome, d.target, rehearsal=d.host.rehearses))
    return outcome


def _finish(session: Session, result: fleet.FleetResult, heading: str | None) -> RolloutResult:
    """Say what each host serves when there are several (or one failed); raise the first failure."""
    if len(session.deployments) > 1 or result.first_error is not None:
        if heading:
            session.line(heading)
        for line in fleet.result_lines(result):
            session.line(line)
    if result.first_error is not None:
        raise result.first_error
    return RolloutResult(result)


def run_rollout(session: Session, plan: RolloutPlan, approve: Callable[[], bool]) -> RolloutResult:
    """Show the plan, get approval (production), publish to the registry, then switch host by host."""
    for line in plan.lines:
        session.line(line)
    if plan.needs_approval and not session.here.rehearses and not approve():
        raise NotApproved("nothing changed")
    if plan.registry is not None and not plan.publish:
        session.line(f"  {plan.image.release.image} is on every host: nothing pushed to {plan.registry}")
    elif plan.registry is not None:
        transfer.publish(
            plan.image, plan.registry, session.here, session.first.reporter, archive=plan.archive
        )
    delivery = bluegreen.Delivery(
        plan.image, plan.registry, smoke=True, forced=plan.forced, promoted_from=plan.promoted_from
    )
    release = plan.image.release

    result = fleet.run_fleet(
        in_lockstep(session.deployments, plan.parallel),
        lambda d: deploy_one(d, release, delivery, build_s=plan.build_s),
        parallel=plan.parallel,
    )
    return _finish(session, result, f"{plan.environment}: what each host serves now:")


def in_lockstep(deployments: Sequence[Deployment], parallel: int) -> tuple[Deployment, ...]:
    """``deployments`` sharing one :class:`~shipflow.deploy.lockstep.Lockstep` when they all run at once
    and take canary steps, so that each step starts on every host together."""
    from shipflow.deploy.lockstep import Lockstep

    if not (1 < len(deployments) <= parallel and deployments[0].canary_steps):
        return tuple(deployments)
    together = Lockstep(len(deployments))
    return tuple(replace(d, lockstep=together) for d in deployments)


def deploy_here(
    session: Session, image: str | None, *, allow_dirty: bool, verbose_build: bool = False
) -> bluegreen.Outcome:
    """This machine's target: deploy ``image`` (an image already built), or HEAD built (or reused) now
    (docker's whole output shown when ``verbose_build``)."""
    from shipflow.images.build import head_release_reference

    d = session.first
    build_s = None
    if image is not None:
        release = release_of_image(d.host, image)
    elif d.host.rehearses:
        reference = head_release_reference(session.project, session.environment, allow_dirty=allow_dirty)
        d.reporter.line(f"  would build {reference} (`inv build`) unless it exists")
        release = Release(image=reference, sha=reference.rsplit(":", 1)[-1], version="(not built)")
    else:
        built = build_for_deploy(session, allow_dirty=allow_dirty, reporter=d.reporter, verbose=verbose_build)
        release, build_s = release_of_image(d.host, built.reference), built.seconds
    return deploy_one(d, release, build_s=build_s)


def roll_back(session: Session, to: str | None) -> RolloutResult:
    """Every host back to its previous release (or ``to``), one at a time, stopping at the first failure."""
    from shipflow.images.settings import build_settings

    repository = build_settings(session.project).image

    def back(d: Deployment) -> bluegreen.Outcome:
        outcome = bluegreen.rollback(d, to=to, image_repository=repository)
        d.reporter.line(outcome_line(outcome, d.target, rehearsal=d.host.rehearses))
        return outcome

    return _finish(session, fleet.run_fleet(session.deployments, back), None)
