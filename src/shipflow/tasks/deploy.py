"""``inv deploy.*``: blue-green deploys behind nginx, here or on servers over SSH; rollback, status, audit,
lock, proxy.

Each task opens a deploy session (the project's settings read once, one connection per host), calls one
function of :mod:`shipflow.deploy` and prints what it returns. Exit codes come from
:mod:`shipflow.errors`: 1 the deploy failed (the previous release still serves) or SSH failed, 2 bad input
or refused by a guard or not approved (nothing changed), 3 locked by another deploy.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from invoke.collection import Collection
from invoke.tasks import task

from shipflow.errors import exit_codes
from shipflow.tasks.flagtypes import Count, Seconds

if TYPE_CHECKING:
    from collections.abc import Iterator

    from invoke.context import Context

    from shipflow.deploy.session import Session

ENV_HELP = "environment: development, test, staging, production, local (aliases dev, stage, prod)"
DRY_RUN_HELP = "print every command and file write it would make (secrets masked) and change nothing"
WAIT_HELP = "SECONDS (a whole number) to wait for another deploy's lock; default 0: refuse at once"
BAKE_HELP = (
    "SECONDS the old slot keeps running after the switch while the new release is watched (its 5xx ratio "
    "and p95 from nginx's log, probes); a breach switches back. Default: [bake] seconds in deploy.toml, "
    "else 30 for staging and production, 0 here"
)
CANARY_HELP = (
    "PERCENTS of traffic the new release gets before the full switch, e.g. 10,50: each step holds "
    "[canary] step_seconds, watched like the bake window; a breach sends everything back to the old release"
)
VERBOSE_HELP = (
    "show docker's whole output when HEAD is built; by default one line per step, and a failing step's output"
)


@contextmanager
def _deploying(env: str | None, task: str = "deploy", **options: Any) -> Iterator[Session]:
    """The environment's deploy session, closed at the end; shipflow's errors end the task with one masked
    line and their exit code."""
    from shipflow.deploy.session import open_session

    with exit_codes(task):  # before the env file is read, shipflow's one mask still hides URL passwords
        session = open_session(env, **options)
    try:
        with exit_codes(task, session.mask):
            yield session
    finally:
        session.close()


@task(
    help={
        "image": "deploy this image (an id or name:tag already built) instead of building HEAD",
        "dry-run": DRY_RUN_HELP,
        "wait": WAIT_HELP,
        "allow-dirty": "build and deploy uncommitted tracked changes (the image is tagged <sha>-dirty)",
        "verbose": VERBOSE_HELP,
        "bake": BAKE_HELP,
        "canary": CANARY_HELP,
    }
)
def local(
    c: Context,
    image: str | None = None,
    dry_run: bool = False,
    wait: int = Seconds(0),
    allow_dirty: bool = False,
    verbose: bool = False,
    bake: str | None = None,
    canary: str | None = None,
) -> None:
    """Build (or reuse) the image for HEAD and deploy it blue-green on this machine behind nginx."""
    from shipflow.deploy.rollout import deploy_here

    options: dict[str, Any] = {"dry_run": dry_run, "lock_wait": wait, "hosts": 1}
    with _deploying("local", bake=bake, canary=canary, **options) as session:
        deploy_here(session, image, allow_dirty=allow_dirty, verbose_build=verbose)


SHIP_HELP = {
    "image": "deploy this image of the local docker engine (name:tag or id) instead of building HEAD",
    "image-archive": "deploy the image in this `docker save -o` file (e.g. CI's build artifact)",
    "yes": "approve without asking (CI); production asks y/N otherwise, and fails without a terminal",
    "force": "deploy although a git guard refuses (branch, clean tree, HEAD pushed); kept in the audit log",
    "dry-run": DRY_RUN_HELP,
    "wait": WAIT_HELP,
    "parallel": "COUNT of hosts to switch at once (default 1: one at a time)",
    "trust-new-host": "accept a server's host key missing from known_hosts and add it (never a changed key)",
    "verbose": VERBOSE_HELP,
    "bake": BAKE_HELP,
    "canary": CANARY_HELP,
}


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
    verbose: bool = False,
    bake: str | None = None,
    canary: str | None = None,
) -> None:
    """Plan the rollout (guards, the image built once, each host's change), approve it, run it."""
    import sys
    from functools import partial
    from pathlib import Path

    from shipflow.deploy.rollout import RolloutRequest, approve_on_terminal, plan_rollout, run_rollout

    archive = Path(image_archive) if image_archive is not None else None
    request = RolloutRequest(
        image=image, image_archive=archive, force=force, parallel=parallel, verbose_build=verbose
    )
    approve = partial(approve_on_terminal, yes=yes, interactive=sys.stdin.isatty(), ask=input)
    options: dict[str, Any] = {"dry_run": dry_run, "lock_wait": wait, "trust_new_host": trust_new_host}
    with _deploying(environment, bake=bake, canary=canary, **options) as session:
        run_rollout(session, plan_rollout(session, request), approve)


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
    verbose: bool = False,
    bake: str | None = None,
    canary: str | None = None,
) -> None:
    """Build HEAD once and deploy it blue-green to every staging server over SSH (from its branch only)."""
    ship("staging", image=image, image_archive=image_archive, yes=yes, force=force, dry_run=dry_run,
         wait=wait, parallel=parallel, trust_new_host=trust_new_host, verbose=verbose, bake=bake,
         canary=canary)  # fmt: skip


@task(
    help={
        **SHIP_HELP,
        "promote": "deploy the image live on staging instead of building HEAD, once it passed its gates "
        "there (the same as `inv deploy.promote --from staging --to production`)",
    },
    aliases=("production",),
)
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
    verbose: bool = False,
    promote: bool = False,
    bake: str | None = None,
    canary: str | None = None,
) -> None:
    """Deploy HEAD to every production server over SSH: guards (main or a release tag, clean, pushed), the
    plan, approval (--yes in CI), a blue-green switch per host and a smoke check through the public URL."""
    if promote:
        promote_image("staging", "production", image=image, image_archive=image_archive, yes=yes,
                      force=force, dry_run=dry_run, wait=wait, parallel=parallel,
                      trust_new_host=trust_new_host, bake=bake, canary=canary)  # fmt: skip
        return
    ship("production", image=image, image_archive=image_archive, yes=yes, force=force, dry_run=dry_run,
         wait=wait, parallel=parallel, trust_new_host=trust_new_host, verbose=verbose, bake=bake,
         canary=canary)  # fmt: skip


PROMOTE_HELP = {
    "from": "the environment (or the target, [targets.NAME]) whose live image goes on (default staging)",
    "to": "the environment (or target) it goes to (default production)",
    "image-archive": "that image's `docker save -o` file (e.g. CI's build artifact), when this machine's "
    "docker engine lacks it",
    "yes": SHIP_HELP["yes"],
    "force": "promote although a required gate has no passing record for the image (or a git guard "
    "refuses); kept in the audit log",
    "dry-run": DRY_RUN_HELP,
    "wait": WAIT_HELP,
    "parallel": SHIP_HELP["parallel"],
    "trust-new-host": SHIP_HELP["trust-new-host"],
    "bake": BAKE_HELP,
    "canary": CANARY_HELP,
}


def promote_image(
    source: str, destination: str, *, image: str | None = None, image_archive: str | None = None,
    yes: bool = False, force: bool = False, dry_run: bool = False, wait: int = 0, parallel: int = 1,
    trust_new_host: bool = False, bake: str | None = None, canary: str | None = None,
) -> None:  # fmt: skip
    """Promote the image live on ``source`` to ``destination`` (environments or target names)."""
    import sys
    from functools import partial
    from pathlib import Path

    from shipflow.deploy.rollout import approve_on_terminal
    from shipflow.errors import BadInput
    from shipflow.gates.promotion import promote
    from shipflow.gates.settings import required_gates

    if image is not None:
        with exit_codes("deploy.prod"):
            raise BadInput("--promote deploys the image live on staging (proven by its gates): drop --image")
    approve = partial(approve_on_terminal, yes=yes, interactive=sys.stdin.isatty(), ask=input)
    archive = Path(image_archive) if image_archive is not None else None
    (from_env, from_place), (to_env, to_place) = _place(source), _place(destination)
    with (
        _deploying(from_env, "deploy.promote", trust_new_host=trust_new_host, **from_place) as from_session,
        _deploying(to_env, "deploy.promote", dry_run=dry_run, lock_wait=wait, trust_new_host=trust_new_host,
                   bake=bake, canary=canary, **to_place) as to_session,
    ):  # fmt: skip
        required = required_gates(to_session.project)
        promote(from_session, to_session, required, approve, force=force, archive=archive, parallel=parallel)


def _place(name: str) -> tuple[str | None, dict[str, str]]:
    """``name`` as a deploy session is opened on it: an environment (or alias), else a target's name."""
    from shipflow.env.names import ALIASES, ENVIRONMENTS

    if name.strip().lower() in (*ENVIRONMENTS, *ALIASES):
        return name, {}
    return None, {"target_name": name}


@task(help=PROMOTE_HELP)
def promote(
    c: Context,
    from_: str = "staging",
    to: str = "production",
    image_archive: str | None = None,
    yes: bool = False,
    force: bool = False,
    dry_run: bool = False,
    wait: int = Seconds(0),
    parallel: int = Count(1),
    trust_new_host: bool = False,
    bake: str | None = None,
    canary: str | None = None,
) -> None:
    """Deploy the image live on --from to --to, exactly that image (no rebuild), once every gate of
    [tool.shipflow.gates] required passed against it there; else exit 2 and nothing changes. Then the
    destination's normal deploy: plan, approval (production), the image sent only where missing,
    blue-green (canary steps, bake window), smoke check."""
    promote_image(from_, to, image_archive=image_archive, yes=yes, force=force, dry_run=dry_run, wait=wait,
                  parallel=parallel, trust_new_host=trust_new_host, bake=bake, canary=canary)  # fmt: skip


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
    from shipflow.deploy.rollout import roll_back
    from shipflow.tasks.flagtypes import nonblank

    with _deploying(env, dry_run=dry_run, lock_wait=wait) as session:
        roll_back(session, None if to is None else nonblank("--to", to, "a sha, a sha prefix or a tag"))


@task(help={"env": ENV_HELP, "json": "print the status as JSON (the nginx front's URL is the key `url`)"})
def status(c: Context, env: str | None = None, json: bool = False) -> None:
    """Active slot, release, each slot's health, lock holder, last releases and the URL. A deploy killed
    during its canary steps or bake window is converged first: traffic back on the old release (nat)."""
    from shipflow.deploy.housekeeping import converge_interrupted
    from shipflow.deploy.present import status_json, status_lines
    from shipflow.deploy.status import status as read_status

    with _deploying(env) as session:
        converged = [line for d in session.deployments if (line := converge_interrupted(d))]
        reports = [read_status(d) for d in session.deployments]
        told = [line for report in reports for line in status_lines(report)]
        lines = [status_json(reports)] if json else [*converged, *told]
        for line in lines:
            session.line(line)


@task(help={"env": ENV_HELP, "dry-run": DRY_RUN_HELP})
def remove(c: Context, env: str | None = None, dry_run: bool = False) -> None:
    """Stop and remove the app's containers and upstream file (and local nginx); images and audit stay."""
    from shipflow.deploy.housekeeping import remove as remove_app
    from shipflow.deploy.present import removed_line

    with _deploying(env, dry_run=dry_run) as session:
        for d in session.deployments:
            session.line(removed_line(d.host.name, remove_app(d), several=len(session.deployments) > 1))


@task(help={"env": ENV_HELP, "dry-run": DRY_RUN_HELP})
def repair(c: Context, env: str | None = None, dry_run: bool = False) -> None:
    """Put the recorded traffic rule back where the kernel lost it (after a reboot or a firewall flush)."""
    from shipflow.deploy.housekeeping import repair as repair_host

    with _deploying(env, dry_run=dry_run) as session:
        for d in session.deployments:
            session.line(repair_host(d))


@task(help={"env": ENV_HELP, "dry-run": DRY_RUN_HELP})
def unlock(c: Context, env: str | None = None, dry_run: bool = False) -> None:
    """Clear the deploy lock (after a crashed deploy); recorded in the audit log."""
    from shipflow.deploy.housekeeping import unlock as unlock_host
    from shipflow.deploy.present import unlocked_line

    with _deploying(env, dry_run=dry_run) as session:
        for d in session.deployments:
            session.line(unlocked_line(d.host.name, unlock_host(d), several=len(session.deployments) > 1))


@task(
    help={
        "env": ENV_HELP,
        "n": "COUNT of records to show (default 20); with --stats, of the last successful deploys and "
        "rollbacks to time (0: all)",
        "json": "one JSON record per line (with --stats: one JSON object)",
        "stats": "per step: count, median, p95 and max seconds, then the total, the images sent over SSH "
        "(size and rate) and the slowest deploy",
    }
)
def audit(
    c: Context, env: str | None = None, n: int = Count(20), json: bool = False, stats: bool = False
) -> None:
    """The last deploys, rollbacks, removals and unlocks recorded on the host; with --stats, how long
    deploys take, step by step."""
    from shipflow.deploy import audit as audit_log
    from shipflow.deploy.commands import audit_log_path
    from shipflow.deploy.present import audit_lines, stats_lines
    from shipflow.deploy.timings import deploy_stats

    with _deploying(env) as session:
        for d in session.deployments:
            records = audit_log.read(d.host, audit_log_path(d.target), last=None if stats else n)
            heading = d.host.name if len(session.deployments) > 1 else None
            if stats:
                lines = stats_lines(deploy_stats(records, last=n), json=json, heading=heading)
            else:
                lines = audit_lines(records, json=json, heading=heading)
            for line in lines:
                session.line(line)


@task(
    help={
        "stop": "stop shipflow's local nginx",
        "env": "the local target's environment (default local)",
        "dry-run": DRY_RUN_HELP,
    }
)
def proxy(c: Context, stop: bool = False, env: str = "local", dry_run: bool = False) -> None:
    """Show (or with --stop, stop) shipflow's own nginx in front of the local target."""
    from shipflow.deploy.proxy import local_proxy_line

    with _deploying(env, "deploy.proxy", dry_run=dry_run, hosts=1, local_only=True) as session:
        session.line(local_proxy_line(session.first, stop=stop))


@task(
    positional=["switch"],
    help={
        "switch": "on (put the page up, or change its text) or off (serve the live release again)",
        "env": ENV_HELP,
        "message": "TEXT of the page (default: a sentence saying the service will be back shortly)",
        "retry-after": "SECONDS clients are told to wait (the Retry-After header; default 300)",
        "dry-run": DRY_RUN_HELP,
        "wait": WAIT_HELP,
    },
)
def maintenance(
    c: Context,
    switch: str,
    env: str | None = None,
    message: str | None = None,
    retry_after: int = Seconds(300),
    dry_run: bool = False,
    wait: int = Seconds(0),
) -> None:
    """Maintenance on: the front answers 503 with a page and Retry-After for every path but the health
    path (switched like traffic: no nginx reload under nat); off: the live release serves again. Deploys
    and rollbacks keep it on; deploy.status shows it; recorded in the audit log."""
    from shipflow.deploy.maintenance import checked_request, turn_off, turn_on

    with exit_codes("deploy.maintenance"):  # bad input is refused before any host is contacted
        request = checked_request(switch, message, retry_after)
    with _deploying(env, "deploy.maintenance", dry_run=dry_run, lock_wait=wait) as session:
        for d in session.deployments:
            session.line(turn_on(d, request) if request else turn_off(d))


@task(
    help={
        "env": ENV_HELP,
        "follow": "keep streaming new lines until Ctrl-C (exit 0)",
        "slot": "live (default: the slot serving traffic), blue, green, or both (lines then name their slot)",
        "since": "only lines newer than this: a duration (10m, 1h30m, 45s) or a date (2026-12-01T10:00:00)",
        "n": "COUNT of last lines per container (default 100; 0: all)",
        "host": "only this server of the environment (default: every host)",
    }
)
def logs(
    c: Context,
    env: str | None = None,
    follow: bool = False,
    slot: str = "live",
    since: str | None = None,
    n: int = Count(100),
    host: str | None = None,
) -> None:
    """The live release's container logs from every host, each line prefixed with its host, merged by
    time; secrets masked; --follow streams until Ctrl-C."""
    from shipflow.deploy.operate import checked_request, choose, show_logs

    with _deploying(env, "deploy.logs") as session:
        request = checked_request(slot, since, n or None, follow)
        show_logs(session, choose(session.deployments, host), request)


@task(
    help={
        "env": ENV_HELP,
        "host": "run on this server of the environment (default: the first)",
        "all": "run on every server of the environment, one after another",
    },
    name="exec",
)
def exec_command(c: Context, env: str | None = None, host: str | None = None, all: bool = False) -> None:
    """Run the command after `--` in a one-off container of the live release (its image and env file),
    removed afterwards; exits with the command's exit code; recorded in the audit log. At a terminal
    (stdin and stdout both one) the command gets one too (docker run -it), so shells, REPLs and prompts
    work, e.g. `inv deploy.exec --env prod -- sh`; its output then goes straight to the screen, unmasked
    (an interactive session was asked for). Otherwise (CI, pipes) every line of it is masked."""
    import sys

    from invoke.exceptions import Exit

    from shipflow.deploy.operate import choose, exec_on, wants_terminal
    from shipflow.tasks.badflags import remainder_words

    terminal = wants_terminal(sys.stdin.isatty(), sys.stdout.isatty())
    with _deploying(env, "deploy.exec") as session:
        chosen = choose(session.deployments, host, every=all)
        code = exec_on(session, chosen, tuple(remainder_words(c.config)), terminal=terminal)
    if code:
        raise Exit(code=code)


namespace = Collection("deploy")
for _task in (
    local,
    staging,
    prod,
    rollback,
    status,
    remove,
    repair,
    unlock,
    audit,
    proxy,
    maintenance,
    logs,
    exec_command,
    promote,
):
    namespace.add_task(_task)
