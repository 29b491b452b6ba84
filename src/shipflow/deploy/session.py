"""Assemble one deploy run from the project: settings, target, env file, masking, host, reporter."""

from __future__ import annotations

import os
import shlex
import sys
from typing import TYPE_CHECKING

from shipflow.deploy.engine import Deployment
from shipflow.deploy.lock import Actor
from shipflow.deploy.settings import load_deploy_settings
from shipflow.envfiles import env_values
from shipflow.environments import resolve_environment
from shipflow.hosts import DryRunHost, LocalHost
from shipflow.masking import mask, secret_values
from shipflow.project import SettingsError, find_project_root
from shipflow.report import Reporter

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from shipflow.hosts.base import Host


def dotenv_text(values: Mapping[str, str]) -> bytes:
    """An env file python-dotenv reads back to exactly ``values`` (double quotes, escaped)."""
    lines = []
    for key, value in values.items():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'{key}="{escaped}"')
    return ("\n".join(lines) + "\n").encode()


def masker(values: Mapping[str, str]) -> Callable[[str], str]:
    secrets = secret_values(values)
    return lambda text: mask(text, secrets)


def open_host(target_host: str) -> Host:
    if target_host == "local":
        return LocalHost()
    raise SettingsError(f"target host {target_host!r}: only 'local' targets are supported by this version")


def open_deployment(
    environment: str | None,
    *,
    dry_run: bool = False,
    lock_wait: float = 0.0,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Deployment:
    """Everything a deploy task needs, from the project at ``root`` (found from the cwd by default)."""
    root = root or find_project_root()
    environ = os.environ if environ is None else environ
    name = resolve_environment(environment, environ)
    settings = load_deploy_settings(root, environ)
    target = settings.target_for_environment(name)
    values = env_values(root, target.environment, environ=dict(environ))
    reporter = Reporter(mask=masker(values))
    host = open_host(target.host)
    return Deployment(
        settings=settings,
        target=target,
        host=DryRunHost(host, reporter) if dry_run else host,
        reporter=reporter,
        actor=Actor.current(shlex.join(["inv", *sys.argv[1:]])),
        env_file=dotenv_text(values),
        dry_run=dry_run,
        lock_wait=lock_wait,
        pre_switch=list(settings.pre_switch),
    )
