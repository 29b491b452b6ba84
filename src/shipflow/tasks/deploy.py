"""``inv deploy.*``: blue-green deploys behind nginx, rollback, status, audit, lock, proxy.

Exit codes: 1 the deploy failed (the previous release still serves), 2 bad input, 3 locked by another deploy.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict
from json import dumps
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.exceptions import Exit
from invoke.tasks import task

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from invoke.context import Context

    from shipflow.deploy.commands import Release
    from shipflow.deploy.engine import Deployment

ENV_HELP = "environment: development, test, staging, production, local (aliases dev, stage, prod)"
DRY_RUN_HELP = "print every command and file write it would make (secrets masked) and change nothing"
WAIT_HELP = "wait up to this many seconds for another deploy's lock"
FAILED, BAD_INPUT, LOCKED = 1, 2, 3


def _unmasked(text: str) -> str:
    return text


@contextmanager
def _errors(mask: Callable[[str], str] = _unmasked) -> Iterator[None]:
    """shipflow's errors become one clear, masked message and an exit code, never a traceback."""
    from shipflow.deploy.engine import DeployFailed
    from shipflow.deploy.lock import LockHeld
    from shipflow.hosts.base import HostError
    from shipflow.imagebuild.engine import BuildError
    from shipflow.project import SettingsError

    try:
        yield
    except SettingsError as error:
        raise Exit(mask(f"deploy: {error}"), code=BAD_INPUT) from None
    except LockHeld as error:
        raise Exit(mask(f"deploy refused: {error}"), code=LOCKED) from None
    except (DeployFailed, HostError, BuildError) as error:
        raise Exit(mask(f"deploy failed: {error}"), code=FAILED) from None


def _open(env: str | None, *, dry_run: bool = False, wait: float = 0.0) -> Deployment:
    from shipflow.deploy.session import open_deployment

    with _errors():
        return open_deployment(env, dry_run=dry_run, lock_wait=wait)


def deploy_release(d: Deployment, release_for: Callable[[Deployment], Release]) -> None:
    """Get the release to ship (``release_for`` may build it), deploy it to ``d``'s target, report."""
    from shipflow.deploy import engine
    from shipflow.deploy.present import outcome_line

    with _errors(d.reporter.mask):
        release = release_for(d)
        d.reporter.line(f"deploying {release.image} to {d.target.name} ({d.host.name})")
        d.reporter.line(outcome_line(engine.deploy(d, release), d.target))


@task(
    help={
        "image": "deploy this image (an id or name:tag already built) instead of building HEAD",
        "dry-run": DRY_RUN_HELP,
        "wait": WAIT_HELP,
        "allow-dirty": "build and deploy uncommitted tracked changes (the image is tagged <sha>-dirty)",
    }
)
def local(
    c: Context, image: str | None = None, dry_run: bool = False, wait: float = 0.0, allow_dirty: bool = False
) -> None:
    """Build (or reuse) the image for HEAD and deploy it blue-green on this machine behind nginx."""
    from shipflow.deploy.commands import Release
    from shipflow.deploy.engine import release_of_image
    from shipflow.imagebuild.engine import build_head, head_release_reference
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


@task(
    help={
        "env": ENV_HELP,
        "to": "the release to go back to: a git sha (or prefix) or a version tag; default: the previous one",
        "dry-run": DRY_RUN_HELP,
        "wait": WAIT_HELP,
    }
)
def rollback(
    c: Context, env: str | None = None, to: str | None = None, dry_run: bool = False, wait: float = 0.0
) -> None:
    """Go back to the previous release: instant from the kept container, else from its image."""
    from shipflow.deploy import engine
    from shipflow.deploy.present import outcome_line
    from shipflow.imagebuild.settings import build_settings
    from shipflow.project import load_project

    d = _open(env, dry_run=dry_run, wait=wait)
    with _errors(d.reporter.mask):
        repository = build_settings(load_project()).image
        d.reporter.line(outcome_line(engine.rollback(d, to=to, image_repository=repository), d.target))


@task(help={"env": ENV_HELP, "json": "print the status as JSON (the nginx front's URL is the key `url`)"})
def status(c: Context, env: str | None = None, json: bool = False) -> None:
    """Active slot, release, each slot's health, lock holder, last releases and the URL."""
    from shipflow.deploy import engine
    from shipflow.deploy.present import status_lines

    d = _open(env)
    with _errors(d.reporter.mask):
        report = engine.status(d.host, d.settings, d.target)
        for line in [dumps(asdict(report), indent=2)] if json else status_lines(report):
            d.reporter.line(line)


@task(help={"env": ENV_HELP, "dry-run": DRY_RUN_HELP})
def remove(c: Context, env: str | None = None, dry_run: bool = False) -> None:
    """Stop and remove the app's containers and upstream file (and local nginx); images and audit stay."""
    from shipflow.deploy import engine

    d = _open(env, dry_run=dry_run)
    with _errors(d.reporter.mask):
        removed = engine.remove(d)
        d.reporter.line(f"removed: {', '.join(removed) or 'nothing was deployed'}")


@task(help={"env": ENV_HELP})
def unlock(c: Context, env: str | None = None) -> None:
    """Clear the deploy lock (after a crashed deploy); recorded in the audit log."""
    from shipflow.deploy import engine

    d = _open(env)
    with _errors(d.reporter.mask):
        holder = engine.unlock(d.host, d.target, d.actor)
        d.reporter.line(
            f"unlocked: removed the lock of {holder.describe()}" if holder else "no lock to remove"
        )


@task(help={"env": ENV_HELP, "n": "how many records (default 20)", "json": "one JSON record per line"})
def audit(c: Context, env: str | None = None, n: int = 20, json: bool = False) -> None:
    """The last deploys, rollbacks, removals and unlocks recorded on the host."""
    from shipflow.deploy import audit as audit_log
    from shipflow.deploy.commands import audit_log_path
    from shipflow.deploy.present import audit_line

    d = _open(env)
    with _errors(d.reporter.mask):
        records = audit_log.read(d.host, audit_log_path(d.target), last=n)
        for record in records:
            d.reporter.line(record.to_json() if json else audit_line(record))
        if not records:
            d.reporter.line("no audit records yet")


@task(help={"stop": "stop shipflow's local nginx", "env": "the local target's environment (default local)"})
def proxy(c: Context, stop: bool = False, env: str = "local") -> None:
    """Show (or with --stop, stop) shipflow's own nginx in front of the local target."""
    from shipflow.deploy import proxy as nginx

    d = _open(env)
    if not d.target.is_local:
        raise Exit(
            f"deploy.proxy: target {d.target.name} is not local; its nginx is the server's", code=BAD_INPUT
        )
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
for _task in (local, rollback, status, remove, unlock, audit, proxy):
    namespace.add_task(_task)
