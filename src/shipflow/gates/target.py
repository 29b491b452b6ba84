"""Which deployed environment a gate runs against: its public URL (the deploy target's ``public_url``;
for this machine's target, shipflow's nginx on 127.0.0.1), and the mask every line of its output goes
through (the environment's secrets, as a deploy masks them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.errors import Failed

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from shipflow.deploy.settings import TargetSettings
    from shipflow.project import Project

PROBE_TIMEOUT = 5.0


class Unreachable(Failed):
    """Nothing answers at the environment's public URL."""


@dataclass(frozen=True)
class GateTarget:
    """A deployed environment as a gate sees it."""

    root: Path
    project: Project
    environment: str
    url: str
    health_path: str
    mask: Callable[[str], str]

    def report_name(self, gate: str) -> str:
        """``integration-staging``: the stem of the gate's files in ``reports/``."""
        return f"{gate}-{self.environment}"


def environment_mask(
    project: Project, target: TargetSettings, environ: Mapping[str, str]
) -> Callable[[str], str]:
    """A mask of the environment's secrets as its files (or ``env_file_from``'s variable) hold them; files
    that do not load only mask less (shipflow's mask still hides URL passwords): a gate does not validate
    the environment it tests."""
    from shipflow.env.check import load_environment
    from shipflow.env.masking import masking
    from shipflow.env.schema import env_schema

    schema = env_schema(project)
    variable = target.env_file_from
    own = (f"${variable}", environ[variable]) if variable and environ.get(variable, "").strip() else None
    load = load_environment(project.root, target.environment, schema, environ, own_text=own)
    return masking(schema.load_secrets(load))


def gate_target(
    environment: str | None, *, root: Path | None = None, environ: Mapping[str, str] | None = None
) -> GateTarget:
    """The environment ``--env`` names (else APP_ENV, ENV, development) and its deploy target's public
    URL; an unknown environment or one without a target is :class:`~shipflow.project.SettingsError`."""
    from shipflow.deploy.settings import load_deploy_settings
    from shipflow.env.names import resolve_environment
    from shipflow.project import load_project

    environ = os.environ if environ is None else environ
    project = load_project(root)
    name = resolve_environment(environment, environ)
    settings = load_deploy_settings(project.root, environ)
    target = settings.target_for_environment(name)
    return GateTarget(
        root=project.root,
        project=project,
        environment=name,
        url=target.public_url.rstrip("/"),
        health_path=settings.health.path,
        mask=environment_mask(project, target, environ),
    )


def require_answer(target: GateTarget, gate: str) -> None:
    """Refuse to gate an environment nothing answers for (any HTTP status is an answer)."""
    from shipflow.deploy.smoke import get, smoke_url

    url = smoke_url(target.url, target.health_path)
    status, reason = get(url, PROBE_TIMEOUT)
    if status == 0:
        raise Unreachable(
            f"{target.environment} does not answer at {url} ({reason}); deploy it first "
            f"(`inv deploy.status --env {target.environment}` tells what runs there) or fix its public_url "
            f"in deploy/deploy.toml; {gate} ran nothing"
        )
