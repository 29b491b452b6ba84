"""Open one task's deploy run: the project's settings read once, the env file validated, one host per server.

A :class:`Session` holds everything read from the project (``pyproject.toml``, ``deploy/deploy.toml``, the
env schema and the environment's env file) and one :class:`~shipflow.deploy.context.Deployment` per host of
the environment's target, each with its own connection. In a dry run every host rehearses, this machine
included.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.deploy.context import Deployment
from shipflow.deploy.lock import Actor
from shipflow.deploy.settings import load_deploy_settings
from shipflow.env.masking import masking
from shipflow.env.names import resolve_environment
from shipflow.hosts import DryRunHost, LocalHost
from shipflow.project import SettingsError, load_project
from shipflow.report import Reporter

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path

    from shipflow.deploy.settings import DeploySettings, TargetSettings
    from shipflow.env.schema import EnvSchema
    from shipflow.hosts.base import Host
    from shipflow.hosts.ssh import SshTarget
    from shipflow.project import Project


def _dotenv_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def dotenv_text(values: Mapping[str, str]) -> bytes:
    """An env file python-dotenv reads back to exactly ``values`` (double quotes, escaped)."""
    lines = [f'{key}="{_dotenv_escaped(value)}"' for key, value in values.items()]
    return ("\n".join(lines) + "\n").encode()


def masker(
    values: Mapping[str, str], schema: EnvSchema, *, extra: Iterable[str] = ()
) -> Callable[[str], str]:
    """The deploy's one mask: the project's secret keys and patterns (``[tool.shipflow.env]``), URL
    passwords and ``extra`` secrets, each also in the escaped form :func:`dotenv_text` writes it in;
    prepared once."""
    secrets = [*schema.secret_values(values), *extra]
    return masking(dict.fromkeys([*secrets, *(_dotenv_escaped(secret) for secret in secrets)]))


def ssh_target(
    target: TargetSettings, environ: Mapping[str, str], *, trust_new_host: bool = False
) -> SshTarget:
    """How to reach ``target``'s server; a key named by ``identity_key_from`` is read from ``environ``."""
    from shipflow.hosts.ssh import SshTarget

    key_text = None
    if target.identity_key_from:
        key_text = environ.get(target.identity_key_from, "")
        if not key_text.strip():
            raise SettingsError(
                f"targets.{target.name}.identity_key_from names {target.identity_key_from}, which is not set "
                "or empty; export the private key's text in it (CI: a secret)"
            )
    return SshTarget(
        host=target.host,
        port=target.port,
        user=target.user,
        identity_file=target.identity_file,
        private_key=key_text,
        private_key_from=target.identity_key_from or "the environment",
        known_hosts=target.known_hosts,
        trust_new_host=trust_new_host,
    )


def open_host(
    target: TargetSettings, environ: Mapping[str, str] | None = None, *, trust_new_host: bool = False
) -> Host:
    """This machine for a local target; an SSH connection (opened now) for a server."""
    if target.is_local:
        return LocalHost()
    from shipflow.hosts.ssh import SshHost

    host = SshHost(
        ssh_target(target, os.environ if environ is None else environ, trust_new_host=trust_new_host)
    )
    host.connect()
    return host


@dataclass(frozen=True)
class ReleaseEnv:
    """The env file's values a release gets, and every secret value read on the way (also those a later
    line overrode: another key may hold one through ``${KEY}``)."""

    values: dict[str, str]
    secrets: tuple[str, ...]


def release_env(
    root: Path, target: TargetSettings, schema: EnvSchema, environ: Mapping[str, str]
) -> ReleaseEnv:
    """The env file a release gets: ``envs/.env`` < the text of ``env_file_from``'s variable when it is set
    (CI: PROD_ENV_FILE; the variable holds the release's settings, so the process environment is not read),
    else ``envs/.env`` < ``envs/.env.<env>`` < the process environment; validated like `inv env.check`, for
    this machine's target as for a server's.

    Raises :class:`EnvFileError` listing the problems, already masked with every secret of the values
    read (the error is raised before the session and its mask exist)."""
    from shipflow.env.check import development_values, load_environment
    from shipflow.env.files import EnvFileError, load_env
    from shipflow.env.schema import validate
    from shipflow.problems import errors

    variable = target.env_file_from
    if variable and environ.get(variable, "").strip():
        load = load_env(root, target.environment, own_text=(f"${variable}", environ[variable]))
    else:
        load = load_environment(root, target.environment, schema, environ)
    found = errors(validate(load, schema, development_values(root)))
    secrets = tuple(schema.load_secrets(load))
    if found:
        listing = "\n".join(f"  {problem}" for problem in found)
        hide = masker(load.values(), schema, extra=secrets)
        raise EnvFileError(
            hide(f"the env file for {target.environment} is not valid; nothing was deployed:\n{listing}")
        )
    return ReleaseEnv(load.values(), secrets)


def _prune_setting(project: Project) -> tuple[str, int] | None:
    """The images to prune after a deploy: [tool.shipflow.build] image and retain, when the project builds."""
    from shipflow.images.settings import build_settings

    if "build" not in project.settings:
        return None
    settings = build_settings(project)
    return settings.image, settings.retain


@dataclass(frozen=True)
class Session:
    """One task's deploy run on one environment: the project's settings, read once, and its hosts."""

    project: Project
    settings: DeploySettings
    environment: str
    target: TargetSettings
    deployments: tuple[Deployment, ...]
    here: Host  # this machine: its docker engine builds and pushes (a rehearsal in a dry run)

    @property
    def first(self) -> Deployment:
        return self.deployments[0]

    @property
    def mask(self) -> Callable[[str], str]:
        return self.first.reporter.mask

    def line(self, text: str) -> None:
        self.first.reporter.line(text)

    def close(self) -> None:
        """Close every host's connection (nothing to close on this machine)."""
        for deployment in self.deployments:
            deployment.host.close()


def open_session(
    environment: str | None,
    *,
    dry_run: bool = False,
    lock_wait: float = 0.0,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
    trust_new_host: bool = False,
    hosts: int | None = None,
    local_only: bool = False,
    target_name: str | None = None,
    bake: str | None = None,
    canary: str | None = None,
) -> Session:
    """Read the project once and open the environment's hosts (the first ``hosts`` of them, or all); a
    server that cannot be reached raises :class:`~shipflow.hosts.ssh.SshError`, nothing left open.
    ``local_only`` refuses a server's target before its env file is read or the server contacted.
    ``target_name`` names the target itself (``[targets.NAME]``), for an environment with several.
    ``bake``: the ``--bake`` flag's seconds, which win over the settings' bake window; ``canary``: the
    ``--canary`` flag's steps."""
    from shipflow.deploy.bake import canary_flag, window_flag
    from shipflow.env.schema import env_schema

    bake_window = window_flag(bake)  # a bad flag is refused before anything is read
    canary_steps = canary_flag(canary)
    project = load_project(root)
    environ = os.environ if environ is None else environ
    if target_name is None:
        name = resolve_environment(environment, environ)
        settings = load_deploy_settings(project.root, environ)
        target = settings.target_for_environment(name)
    else:
        settings = load_deploy_settings(project.root, environ)
        target = settings.target(target_name)
        name = target.environment
    if local_only and not target.is_local:
        raise SettingsError(f"target {target.name} is not local; its nginx is the server's")
    schema = env_schema(project)
    env = release_env(project.root, target, schema, environ)
    values = env.values
    mask_secrets = masker(values, schema, extra=env.secrets)
    actor = Actor.current(shlex.join(["inv", *sys.argv[1:]]))
    prune = _prune_setting(project)

    deployments: list[Deployment] = []
    try:
        for server in (target.hosts or (target.host,))[:hosts]:
            reporter = Reporter(mask=mask_secrets)
            on_host = target if target.is_local else target.on_host(server)
            host = open_host(on_host, environ, trust_new_host=trust_new_host)
            deployments.append(
                Deployment(
                    settings=settings,
                    target=on_host,
                    host=DryRunHost(host, reporter) if dry_run else host,
                    reporter=reporter,
                    actor=actor,
                    env_file=dotenv_text(values),
                    lock_wait=lock_wait,
                    prune=prune,
                    bake_window=bake_window,
                    canary_steps=canary_steps,
                )
            )
    except BaseException:
        for deployment in deployments:
            deployment.host.close()
        raise
    here = DryRunHost(LocalHost(), deployments[0].reporter) if dry_run else LocalHost()
    return Session(project, settings, name, target, tuple(deployments), here)


def open_deployment(
    environment: str | None,
    *,
    dry_run: bool = False,
    lock_wait: float = 0.0,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Deployment:
    """The deployment of the target's first host (for scripts and benchmarks that drive the engine)."""
    session = open_session(
        environment, dry_run=dry_run, lock_wait=lock_wait, root=root, environ=environ, hosts=1
    )
    return session.first
