"""The environments a project deploys to, their short aliases, and which one a command is about."""

from __future__ import annotations

from collections.abc import Mapping

from shipflow.project import SettingsError

ENVIRONMENTS: tuple[str, ...] = ("development", "test", "staging", "production", "local")
"""Canonical environment names; ``envs/.env.<name>`` holds each one's settings."""

ALIASES: Mapping[str, str] = {"dev": "development", "stage": "staging", "prod": "production"}
"""Short names accepted wherever an environment is named (``ENV=prod`` as in the seed documents)."""

DEFAULT_ENVIRONMENT = "development"


class UnknownEnvironment(SettingsError):
    """An environment name that is neither a known environment nor an alias."""


def canonical_environment(name: str, *, source: str = "--env") -> str:
    """The canonical name for ``name`` (an environment or an alias, any case).

    ``source`` says where the name came from, for the error message.
    """
    cleaned = name.strip().lower()
    if cleaned in ENVIRONMENTS:
        return cleaned
    if cleaned in ALIASES:
        return ALIASES[cleaned]
    aliases = ", ".join(f"{alias}={target}" for alias, target in ALIASES.items())
    raise UnknownEnvironment(
        f"unknown environment {name!r} (from {source}); known: {', '.join(ENVIRONMENTS)} (aliases: {aliases})"
    )


def resolve_environment(name: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The environment a command is about: ``name`` (``--env``), else APP_ENV, else ENV, else development.

    Empty variables count as unset; an empty ``--env`` is refused like any other unknown name. Raises
    :class:`UnknownEnvironment`, listing the known names.
    """
    if name is not None:
        return canonical_environment(name)
    if environ is None:
        import os

        environ = os.environ
    for variable in ("APP_ENV", "ENV"):
        value = environ.get(variable, "")
        if value.strip():
            return canonical_environment(value, source=f"the {variable} environment variable")
    return DEFAULT_ENVIRONMENT
