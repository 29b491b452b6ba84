"""One host of a target and everything a deploy step on it needs, fixed for the whole run.

The context is frozen: what a run learns (timings, database revisions, how the image travelled, the smoke
check) is returned in its :class:`~shipflow.deploy.bluegreen.Outcome`, never written back here. Whether
the run is real or a rehearsal is the host's to say (``host.rehearses``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.errors import Failed

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from shipflow.deploy.lock import Actor
    from shipflow.deploy.lockstep import Lockstep
    from shipflow.deploy.settings import DeploySettings, TargetSettings
    from shipflow.hosts.base import CommandResult, Host
    from shipflow.report import Reporter


class DeployFailed(Failed):
    """The deploy stopped; the message is one paragraph saying what happened, what serves now, what to do."""


@dataclass(frozen=True)
class Deployment:
    """The deploy settings, the target narrowed to one host, the host, and who runs it."""

    settings: DeploySettings
    target: TargetSettings
    host: Host
    reporter: Reporter
    actor: Actor
    env_file: bytes = b""
    lock_wait: float = 0.0
    prune: tuple[str, int] | None = None  # (the images' shipflow.app label, how many release images to keep)
    bake_window: float | None = None  # --bake S: the bake window's seconds for this run (None: the settings')
    canary_steps: tuple[int, ...] = ()  # --canary 10,50: the shares of traffic before the full switch
    lockstep: Lockstep | None = None  # a --parallel rollout's hosts, taking each canary step together

    def best_effort(self, what: str, action: Callable[[], object]) -> None:
        """Cleanup after a failure: its own failure is a warning, never a replacement for the first error."""
        try:
            action()
        except Exception as error:
            self.reporter.line(f"  warning: could not {what}: {error}")

    def run(self, argv: Sequence[str]) -> CommandResult:
        """Run a command that changes the host; a non-zero exit raises (the host's own error)."""
        return self.host.run(argv).check(self.host.name)
