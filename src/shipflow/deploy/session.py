"""Assemble one deploy run from the project: settings, target, env file, masking, host, reporter."""

from __future__ import annotations

import os
import shlex
import sys
from typing import TYPE_CHECKING

from shipflow.deploy.engine import Deployment
from shipflow.deploy.lock import Actor
from shipflow.deploy.settings import load_deploy_settings
from shipflow.env.files import env_values
from shipflow.env.masking import mask
from shipflow.env.names import resolve_environment
from shipflow.hosts import DryRunHost, LocalHost
from shipflow.project import SettingsError, find_project_root
from shipflow.report import Reporter

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from shipflow.deploy.settings import TargetSettings
    from shipflow.hosts.base import Host
    from shipflow.hosts.ssh import SshTarget


def _dotenv_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def dotenv_text(values: Mapping[str, str]) -> bytes:
    """An env file python-dotenv reads back to exactly ``values`` (double quotes, escaped)."""
    lines = [f'{key}="{_dotenv_escaped(value)}"' for key, value in values.items()]
    return ("\n".join(lines) + "\n").encode()


def masker(values: Mapping[str, str], root: Path) -> Callable[[str], str]:
    """The deploy's one mask: the project's secret keys and patterns (``[tool.shipflow.env]``) and URL
    passwords, each secret also in the escaped form :func:`dotenv_text` writes it in."""
    from shipflow.env.schema import env_schema
    from shipflow.project import load_project

    secrets = env_schema(load_project(root)).secret_values(values)
    every_form = list(dict.fromkeys([*secrets, *(_dotenv_escaped(secret) for secret in secrets)]))
    return lambda text: mask(text, every_form)


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


def close_host(host: Host) -> None:
    """Close an SSH connection (a no-op for this machine)."""
    inner = host.host if isinstance(host, DryRunHost) else host
    close = getattr(inner, "close", None)
    if callable(close):
        close()


def remote_env_values(root: Path, target: TargetSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """A server's env file: the text of ``env_file_from``'s variable when it is set (CI: PROD_ENV_FILE),
    else ``envs/.env`` < ``envs/.env.<env>`` < the process environment; validated like `inv env.check`."""
    from shipflow.env.check import development_values, load_environment
    from shipflow.env.files import EnvFileError, EnvLoad, Setting, parse_env_text
    from shipflow.env.schema import env_schema, validate
    from shipflow.problems import errors
    from shipflow.project import load_project

    schema = env_schema(load_project(root))
    variable = target.env_file_from
    if variable and environ.get(variable, "").strip():
        source = f"${variable}"
        entries, problems = parse_env_text(environ[variable], source)
        settings = {entry.key: Setting(entry.key, entry.value, source, entry.line) for entry in entries}
        load = EnvLoad(target.environment, settings, tuple(problems), (source,))
    else:
        load = load_environment(root, target.environment, schema, environ)
    found = errors(validate(load, schema, development_values(root)))
    if found:
        listing = "\n".join(f"  {problem}" for problem in found)
        raise EnvFileError(
            f"the env file for {target.environment} is not valid; nothing was deployed:\n{listing}"
        )
    return load.values()


def _prune_setting(root: Path) -> tuple[str, int] | None:
    """The images to prune after a deploy: [tool.shipflow.build] image and retain, when the project builds."""
    from shipflow.images.settings import build_settings
    from shipflow.project import load_project

    project = load_project(root)
    if "build" not in project.settings:
        return None
    settings = build_settings(project)
    return settings.image, settings.retain


def open_deployments(
    environment: str | None,
    *,
    dry_run: bool = False,
    lock_wait: float = 0.0,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
    trust_new_host: bool = False,
) -> list[Deployment]:
    """One :class:`Deployment` per host of the environment's target (one for a local target), each with
    its own connection; a server that cannot be reached raises :class:`~shipflow.hosts.ssh.SshError`."""
    root = root or find_project_root()
    environ = os.environ if environ is None else environ
    name = resolve_environment(environment, environ)
    settings = load_deploy_settings(root, environ)
    target = settings.target_for_environment(name)
    if target.is_local:
        values = env_values(root, target.environment, environ=dict(environ))
    else:
        values = remote_env_values(root, target, environ)
    actor = Actor.current(shlex.join(["inv", *sys.argv[1:]]))
    prune = _prune_setting(root)
    mask_secrets = masker(values, root)

    deployments: list[Deployment] = []

    try:
        for server in target.hosts or (target.host,):
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
                    dry_run=dry_run,
                    lock_wait=lock_wait,
                    pre_switch=list(settings.pre_switch),
                    prune=prune,
                )
            )
    except BaseException:
        for deployment in deployments:
            close_host(deployment.host)
        raise
    return deployments


def open_deployment(
    environment: str | None,
    *,
    dry_run: bool = False,
    lock_wait: float = 0.0,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Deployment:
    """Everything a deploy task needs, from the project at ``root`` (found from the cwd by default); for a
    target of several servers, the first one (see :func:`open_deployments`)."""
    return open_deployments(environment, dry_run=dry_run, lock_wait=lock_wait, root=root, environ=environ)[0]
