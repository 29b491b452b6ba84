"""One environment, several servers: the same engine run per host, one host at a time by default.

Each host gets a full blue-green switch. The first failure stops the rollout (hosts not started yet are
left alone, hosts already switched keep the new release), and the result says which host serves which
release, so a person (or ``inv deploy.rollback``, which runs per host too) can act on it.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipflow.deploy import baking
from shipflow.deploy.state import read_state
from shipflow.hosts.base import HostError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from shipflow.deploy.bluegreen import Outcome
    from shipflow.deploy.commands import Release
    from shipflow.deploy.context import Deployment


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


def short_release(release: Release | None) -> str:
    return f"{release.version} ({release.sha[:12]})" if release else "nothing"


def serving(d: Deployment) -> str:
    """The release ``d``'s host serves now, read from the host."""
    try:
        active = read_state(d.host, d.settings, d.target).active_state
    except HostError as error:
        return f"unknown ({error})"
    return short_release(active.release if active else None)


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
        submitted: list[Future[None]] = []
        try:
            with baking.sigterm_interrupts(), ThreadPoolExecutor(max_workers=parallel) as pool:
                try:
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
                except BaseException:
                    baking.INTERRUPTED.set()  # hosts baking or in a canary switch back, then the pool ends
                    raise
        finally:
            baking.INTERRUPTED.clear()
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
            state = f"{verb} {short_release(entry.outcome.release)}"
        elif entry.error is not None:
            state = "FAILED"
        else:
            state = "not started (stopped after a failure)"
        now = f"; serves {entry.serving}" if entry.serving and entry.outcome is None else ""
        lines.append(f"  {entry.host}: {state}{now}")
    return lines
