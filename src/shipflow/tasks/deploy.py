"""``inv deploy.*``: blue-green deploys behind nginx, here or on servers over SSH; rollback, status, audit,
lock, proxy.

Exit codes: 1 the deploy failed (the previous release still serves) or SSH failed, 2 bad input or refused
by a guard or not approved (nothing changed), 3 locked by another deploy.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict
from json import dumps
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.exceptions import Exit
from invoke.tasks import task

from shipflow.tasks.flagtypes import Count, Seconds

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from invoke.context import Context

    from shipflow.deploy.commands import Release
    from shipflow.deploy.engine import Deployment, Outcome
    from shipflow.deploy.transfer import LocalImage
    from shipflow.project import Project

ENV_HELP = "environment: development, test, staging, production, local (aliases dev, stage, prod)"
DRY_RUN_HELP = "print every command and file write it would make (secrets masked) and change nothing"
WAIT_HELP = "SECONDS (a whole number) to wait for another deploy's lock; default 0: refuse at once"
FAILED, BAD_INPUT, LOCKED = 1, 2, 3


def _unmasked(text: str) -> str:
    return text


@contextmanager
def _errors(mask: Callable[[str], str] = _unmasked) -> Iterator[None]:
    """shipflow's errors become one clear, masked message and an exit code, never a traceback."""
    from shipflow.deploy.engine import DeployFailed
    from shipflow.deploy.fleet import ApprovalImpossible
    from shipflow.deploy.lock import LockHeld
    from shipflow.hosts.base import HostError
    from shipflow.hosts.ssh import SshError
    from shipflow.images.build import BuildError
    from shipflow.project import SettingsError
    from shipflow.release.git import GitError

    try:
        yield
    except (SettingsError, ApprovalImpossible) as error:
        raise Exit(mask(f"deploy: {error}"), code=BAD_INPUT) from None
    except GitError as error:
        raise Exit(mask(f"deploy refused: {error}"), code=BAD_INPUT) from None
    except LockHeld as error:
        raise Exit(mask(f"deploy refused: {error}"), code=LOCKED) from None
    except SshError as error:
        raise Exit(mask(f"ssh failed: {error}"), code=FAILED) from None
    except (DeployFailed, HostError, BuildError) as error:
        raise Exit(mask(f"deploy failed: {error}"), code=FAILED) from None


def _open_all(
    env: str | None, *, dry_run: bool = False, wait: float = 0.0, trust_new_host: bool = False
) -> list[Deployment]:
    """One deployment per host of the environment's target (SSH connections opened now)."""
    from shipflow.deploy.session import open_deployments
    from shipflow.env.masking import mask

    # No env values are known yet to mask by name; mask() still strips any URL's password.
    with _errors(mask):
        return open_deployments(env, dry_run=dry_run, lock_wait=wait, trust_new_host=trust_new_host)


def _open(env: str | None, *, dry_run: bool = False, wait: float = 0.0) -> Deployment:
    """The deployment of the target's first host; the other hosts' connections are closed."""
    from shipflow.deploy.session import close_host

    deployments = _open_all(env, dry_run=dry_run, wait=wait)
    for other in deployments[1:]:
        close_host(other.host)
    return deployments[0]


@contextmanager
def _closing(deployments: list[Deployment]) -> Iterator[None]:
    from shipflow.deploy.session import close_host

    try:
        yield
    finally:
        for d in deployments:
            close_host(d.host)


def deploy_release(d: Deployment, release_for: Callable[[Deployment], Release]) -> None:
    """Get the release to ship (``release_for`` may build it), deploy it to ``d``'s target, report."""
    with _errors(d.reporter.mask):
        _deploy_one(d, release_for(d))


@task(
    help={
        "image": "deploy this image (an id or name:tag already built) instead of building HEAD",
        "dry-run": DRY_RUN_HELP,
        "wait": WAIT_HELP,
        "allow-dirty": "build and deploy uncommitted tracked changes (the image is tagged <sha>-dirty)",
    }
)
def local(
    c: Context,
    image: str | None = None,
    dry_run: bool = False,
    wait: int = Seconds(0),
    allow_dirty: bool = False,
) -> None:
    """Build (or reuse) the image for HEAD and deploy it blue-green on this machine behind nginx."""
    from shipflow.deploy.commands import Release
    from shipflow.deploy.engine import release_of_image
    from shipflow.images.build import build_head, head_release_reference
    from shipflow.project import load_project

    def release_for(d: Deployment) -> Release:
        if image is not None:
            return release_of_image(d.host, image)
        project = load_project()
        if d.dry_run:
            reference = head_release_reference(project, d.target.environment, allow_dirty=allow_dirty)
            d.reporter.line(f"  would build {reference} (`inv build`) unless it exists")
            return Release(image=reference, sha=reference.rsplit(":", 1)[-1], version="(not built)")
        built = build_head(project, d.target.environment, allow_dirty=allow_dirty, on_line=d.reporter.line)
        return release_of_image(d.host, built.tags[0])

    deploy_release(_open("local", dry_run=dry_run, wait=wait), release_for)


SHIP_HELP = {
    "image": "deploy this image of the local docker engine (name:tag or id) instead of building HEAD",
    "image-archive": "deploy the image in this `docker save -o` file (e.g. CI's build artifact)",
    "yes": "approve without asking (CI); production asks y/N otherwise, and fails without a terminal",
    "force": "deploy although a git guard refuses (branch, clean tree, HEAD pushed); kept in the audit log",
    "dry-run": DRY_RUN_HELP,
    "wait": WAIT_HELP,
    "parallel": "COUNT of hosts to switch at once (default 1: one at a time)",
    "trust-new-host": "accept a server's host key missing from known_hosts and add it (never a changed key)",
}


def _guards(project: Project, d: Deployment, force: bool) -> list[str]:
    """The git guards' refusals; without --force any refusal stops here, nothing changed."""
    from shipflow.deploy import guards
    from shipflow.release import git
    from shipflow.release.branches import git_settings

    settings = git_settings(project)
    root = git.repo_root(project.root)
    facts = guards.read_git_facts(root, d.target.environment, settings.model, settings.remote)
    found = guards.refusals(facts, d.target.environment, settings.model)
    if found and not force:
        listing = "\n".join(f"  - {reason}" for reason in found)
        raise Exit(
            f"deploy refused, nothing changed:\n{listing}\n"
            "pass --force to override (it is kept in the audit log)",
            code=BAD_INPUT,
        )
    for reason in found:
        d.reporter.line(f"!!! WARNING: --force: deploying to {d.target.environment} although {reason}")
    return found


def _local_image(
    project: Project, d: Deployment, image: str | None, image_archive: str | None, allow_dirty: bool
) -> LocalImage:
    """The image to ship: an archive, an image of the local engine, or HEAD built once for all hosts."""
    from pathlib import Path

    from shipflow.deploy import transfer
    from shipflow.deploy.commands import Release
    from shipflow.images.build import build_head, head_release_reference

    if image_archive is not None:
        return transfer.archive_image(Path(image_archive))
    if image is not None:
        return transfer.engine_image(image)
    environment = d.target.environment
    if d.dry_run:
        reference = head_release_reference(project, environment, allow_dirty=allow_dirty)
        try:
            return transfer.engine_image(reference)
        except transfer.TransferFailed:
            d.reporter.line(f"  would build {reference} (`inv build`)")
            sha = reference.rsplit(":", 1)[-1]
            release = Release(image=reference, sha=sha, version="(not built)")
            return transfer.LocalImage(release, reference, lambda: iter(()), "build of HEAD (not built yet)")
    built = build_head(project, environment, allow_dirty=allow_dirty, on_line=d.reporter.line)
    return transfer.engine_image(built.tags[0])


def _deploy_one(d: Deployment, release: Release) -> Outcome:
    """Deploy ``release`` to ``d``'s host, saying what and where before and how it went after."""
    from shipflow.deploy import engine
    from shipflow.deploy.present import outcome_line

    d.reporter.line(f"deploying {release.image} to {d.target.name} ({d.host.name})")
    outcome = engine.deploy(d, release)
    d.reporter.line(outcome_line(outcome, d.target))
    return outcome


def ship(
    environment: str,
    *,
    image: str | None = None,
    image_archive: str | None = None,
    yes: bool = False,
    force: bool = False,
    dry_run: bool = False,
    wait: int = 0,
    parallel: int = 1,
    trust_new_host: bool = False,
) -> None:
    """Guards, one image for every host, the plan and approval, then a blue-green switch per host."""
    import sys
    from functools import partial
    from pathlib import Path

    from shipflow.deploy import fleet, transfer
    from shipflow.deploy.migration import pending_in_project
    from shipflow.deploy.smoke import smoke_check
    from shipflow.project import load_project

    if parallel < 1:
        raise Exit("deploy: --parallel must be 1 or more", code=BAD_INPUT)
    if image is not None and image_archive is not None:
        raise Exit("deploy: give --image or --image-archive, not both", code=BAD_INPUT)
    deployments = _open_all(environment, dry_run=dry_run, wait=wait, trust_new_host=trust_new_host)
    first = deployments[0]
    with _closing(deployments), _errors(first.reporter.mask):
        if first.target.is_local:
            raise Exit(
                f"deploy: target {first.target.name} of {environment} is this machine: "
                "use `inv deploy.local`",
                code=BAD_INPUT,
            )
        project = load_project()
        forced = _guards(project, first, force)
        local = _local_image(project, first, image, image_archive, allow_dirty=force)
        registry = first.target.registry
        fleet.use_image(deployments, local, registry)
        for d in deployments:
            d.smoke_check = smoke_check
            if forced:
                d.audit_extra["forced"] = forced
        release = local.release
        plans = fleet.plan(deployments, release)
        # The checkout's migrations are the release's only when the release is this checkout's build.
        built_here = image is None and image_archive is None
        pending_for = partial(pending_in_project, project.root) if built_here else None
        for line in fleet.plan_lines(environment, plans, first.settings.migrate, parallel, pending_for):
            first.reporter.line(line)
        if environment == "production" and not dry_run:
            approved = fleet.approve(yes=yes, interactive=sys.stdin.isatty(), ask=input)
            if not approved:
                raise Exit("deploy not approved: nothing changed", code=BAD_INPUT)
        if registry is not None and not fleet.hosts_lacking(deployments, local.image_id):
            first.reporter.line(f"  {local.release.image} is on every host: nothing pushed to {registry}")
        elif registry is not None:
            archive = Path(image_archive) if image_archive is not None else None
            transfer.publish(local, registry, first.reporter, archive=archive, dry_run=dry_run)
        result = fleet.run_fleet(deployments, lambda d: _deploy_one(d, release), parallel=parallel)
        if len(deployments) > 1 or result.first_error is not None:
            first.reporter.line(f"{environment}: what each host serves now:")
            for line in fleet.result_lines(result):
                first.reporter.line(line)
        if result.first_error is not None:
            raise result.first_error


@task(help=SHIP_HELP)
def staging(
    c: Context,
    image: str | None = None,
    image_archive: str | None = None,
    yes: bool = False,
    force: bool = False,
    dry_run: bool = False,
    wait: int = Seconds(0),
    parallel: int = Count(1),
    trust_new_host: bool = False,
) -> None:
    """Build HEAD once and deploy it blue-green to every staging server over SSH (from its branch only)."""
    ship("staging", image=image, image_archive=image_archive, yes=yes, force=force, dry_run=dry_run,
         wait=wait, parallel=parallel, trust_new_host=trust_new_host)  # fmt: skip


@task(help=SHIP_HELP, aliases=("production",))
def prod(
    c: Context,
    image: str | None = None,
    image_archive: str | None = None,
    yes: bool = False,
    force: bool = False,
    dry_run: bool = False,
    wait: int = Seconds(0),
    parallel: int = Count(1),
    trust_new_host: bool = False,
) -> None:
    """Deploy HEAD to every production server over SSH: guards (main or a release tag, clean, pushed), the
    plan, approval (--yes in CI), a blue-green switch per host and a smoke check through the public URL."""
    ship("production", image=image, image_archive=image_archive, yes=yes, force=force, dry_run=dry_run,
         wait=wait, parallel=parallel, trust_new_host=trust_new_host)  # fmt: skip


@task(
    help={
        "env": ENV_HELP,
        "to": "the release to go back to: a git sha (or prefix) or a version tag; default: the previous one",
        "dry-run": DRY_RUN_HELP,
        "wait": WAIT_HELP,
    }
)
def rollback(
    c: Context, env: str | None = None, to: str | None = None, dry_run: bool = False, wait: int = Seconds(0)
) -> None:
    """Go back to the previous release: instant from the kept container, else from its image; on every host
    of the environment, one at a time, stopping at the first failure."""
    from shipflow.deploy import engine, fleet
    from shipflow.deploy.present import outcome_line
    from shipflow.images.settings import build_settings
    from shipflow.project import load_project

    deployments = _open_all(env, dry_run=dry_run, wait=wait)
    first = deployments[0]
    with _closing(deployments), _errors(first.reporter.mask):
        repository = build_settings(load_project()).image

        def back(d: Deployment) -> Outcome:
            outcome = engine.rollback(d, to=to, image_repository=repository)
            d.reporter.line(outcome_line(outcome, d.target))
            return outcome

        result = fleet.run_fleet(deployments, back)
        if len(deployments) > 1 or result.first_error is not None:
            for line in fleet.result_lines(result):
                first.reporter.line(line)
        if result.first_error is not None:
            raise result.first_error


@task(help={"env": ENV_HELP, "json": "print the status as JSON (the nginx front's URL is the key `url`)"})
def status(c: Context, env: str | None = None, json: bool = False) -> None:
    """Active slot, release, each slot's health, lock holder, last releases and the URL."""
    from shipflow.deploy import engine
    from shipflow.deploy.present import status_lines

    deployments = _open_all(env)
    first = deployments[0]
    with _closing(deployments), _errors(first.reporter.mask):
        reports = [engine.status(d.host, d.settings, d.target) for d in deployments]
        if json:
            shown = asdict(reports[0]) if len(reports) == 1 else [asdict(report) for report in reports]
            first.reporter.line(dumps(shown, indent=2))
            return
        for report in reports:
            for line in status_lines(report):
                first.reporter.line(line)


@task(help={"env": ENV_HELP, "dry-run": DRY_RUN_HELP})
def remove(c: Context, env: str | None = None, dry_run: bool = False) -> None:
    """Stop and remove the app's containers and upstream file (and local nginx); images and audit stay."""
    from shipflow.deploy import engine

    deployments = _open_all(env, dry_run=dry_run)
    with _closing(deployments), _errors(deployments[0].reporter.mask):
        for d in deployments:
            removed = engine.remove(d)
            where = f" on {d.host.name}" if len(deployments) > 1 else ""
            d.reporter.line(f"removed{where}: {', '.join(removed) or 'nothing was deployed'}")


@task(help={"env": ENV_HELP, "dry-run": DRY_RUN_HELP})
def unlock(c: Context, env: str | None = None, dry_run: bool = False) -> None:
    """Clear the deploy lock (after a crashed deploy); recorded in the audit log."""
    from shipflow.deploy import engine

    deployments = _open_all(env, dry_run=dry_run)
    with _closing(deployments), _errors(deployments[0].reporter.mask):
        for d in deployments:
            holder = engine.unlock(d.host, d.target, d.actor)
            where = f"{d.host.name}: " if len(deployments) > 1 else ""
            d.reporter.line(
                f"{where}unlocked: removed the lock of {holder.describe()}"
                if holder
                else f"{where}no lock to remove"
            )


@task(
    help={"env": ENV_HELP, "n": "COUNT of records to show (default 20)", "json": "one JSON record per line"}
)
def audit(c: Context, env: str | None = None, n: int = Count(20), json: bool = False) -> None:
    """The last deploys, rollbacks, removals and unlocks recorded on the host."""
    from shipflow.deploy import audit as audit_log
    from shipflow.deploy.commands import audit_log_path
    from shipflow.deploy.present import audit_line

    deployments = _open_all(env)
    with _closing(deployments), _errors(deployments[0].reporter.mask):
        for d in deployments:
            records = audit_log.read(d.host, audit_log_path(d.target), last=n)
            if len(deployments) > 1 and not json:
                d.reporter.line(f"== {d.host.name}")
            for record in records:
                d.reporter.line(record.to_json() if json else audit_line(record))
            if not records and not json:
                d.reporter.line("no audit records yet")


@task(
    help={
        "stop": "stop shipflow's local nginx",
        "env": "the local target's environment (default local)",
        "dry-run": DRY_RUN_HELP,
    }
)
def proxy(c: Context, stop: bool = False, env: str = "local", dry_run: bool = False) -> None:
    """Show (or with --stop, stop) shipflow's own nginx in front of the local target."""
    import os

    from shipflow.deploy import proxy as nginx
    from shipflow.deploy.settings import load_deploy_settings
    from shipflow.env.masking import mask
    from shipflow.env.names import resolve_environment
    from shipflow.project import find_project_root

    # Refuse a server's target before reading its env file or connecting to it.
    with _errors(mask):
        name = resolve_environment(env, os.environ)
        target = load_deploy_settings(find_project_root(), os.environ).target_for_environment(name)
    if not target.is_local:
        raise Exit(
            f"deploy.proxy: target {target.name} is not local; its nginx is the server's", code=BAD_INPUT
        )
    d = _open(env, dry_run=dry_run)
    with _errors(d.reporter.mask):
        if stop:
            stopped = nginx.stop_local(d.host, d.target)
            d.reporter.line("stopped the local nginx" if stopped else "the local nginx was not running")
            return
        master = nginx.master_pid(d.host, d.target)
        d.reporter.line(
            f"local nginx: running (pid {master}) on {d.target.public_url}"
            if master
            else "local nginx: not running"
        )


namespace = Collection("deploy")
for _task in (local, staging, prod, rollback, status, remove, unlock, audit, proxy):
    namespace.add_task(_task)
