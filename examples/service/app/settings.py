"""The service's settings: env files chosen by environment, overridden by the process environment.

When ``SHIPFLOW_ENV_FILE`` is set, that one file is read (a deploy mounts the release's env file
read-only and points here, so secrets never appear in ``docker inspect``). Otherwise ``envs/.env`` and
then ``envs/.env.<environment>`` are read from the working directory, the environment being APP_ENV,
else ENV, else development (dev, stage and prod are aliases). The process environment always wins.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ALIASES = {"dev": "development", "stage": "staging", "prod": "production"}
DEFAULT_ENVIRONMENT = "development"
DEFAULT_DATABASE_URL = "sqlite://"  # in-memory SQLite: the service runs with no database server
DEFAULT_PORT = 8000
DEFAULT_BOOT_SECONDS = 1.5
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and what is expected."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads at start."""

    environment: str
    port: int
    database_url: str
    boot_seconds: float
    version: str
    sha: str
    log_level: str
    host: str = "0.0.0.0"  # noqa: S104 - the service listens on every interface of its container
    # Test-only knobs, for rehearsing a bad release (shipflow's bake and canary tests): a share of
    # ``GET /`` answers 500, and every ``GET /`` waits this long first. ``/health`` is never affected.
    fail_ratio: float = 0.0
    extra_latency_ms: float = 0.0


def canonical_environment(name: str) -> str:
    """``prod`` -> ``production``; other names are lowercased and kept."""
    cleaned = name.strip().lower()
    return ALIASES.get(cleaned, cleaned)


def selected_environment(environ: Mapping[str, str]) -> str:
    """APP_ENV, else ENV, else development."""
    for variable in ("APP_ENV", "ENV"):
        if environ.get(variable, "").strip():
            return canonical_environment(environ[variable])
    return DEFAULT_ENVIRONMENT


def _read_env_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except PermissionError:
        raise SettingsError(
            f"cannot read env file {path}: permission denied to uid {os.getuid()}; make it readable by "
            "the user the service runs as"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"cannot read env file {path}: {error}") from None


def env_file_text(environ: Mapping[str, str], cwd: Path) -> str:
    """The env files that apply, joined in precedence order (later lines win)."""
    explicit = environ.get("SHIPFLOW_ENV_FILE", "").strip()
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise SettingsError(f"SHIPFLOW_ENV_FILE={explicit} is not a readable file: mount it or unset it")
        return _read_env_file(path)
    environment = selected_environment(environ)
    paths = [cwd / "envs" / name for name in (".env", f".env.{environment}")]
    return "".join(_read_env_file(path) + "\n" for path in paths if path.is_file())


def load_env_files(cwd: Path | None = None) -> None:
    """Add the env files' values to the process environment; a variable already set there wins.

    One ``load_dotenv`` call over the joined files, so ``${VAR}`` resolves as shipflow's env rules say:
    from the process environment when set there, else from a line above.
    """
    from dotenv import load_dotenv

    load_dotenv(stream=io.StringIO(env_file_text(os.environ, cwd or Path.cwd())), override=False)


def database_url(cwd: Path | None = None) -> str:
    """DATABASE_URL as the service reads it (env files, then the process environment), else in-memory SQLite.

    The migrations' ``env.py`` calls this too, so ``alembic upgrade head`` reaches the service's database.
    """
    load_env_files(cwd)
    return os.environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL


def _number(values: Mapping[str, str], key: str, default: float) -> float:
    raw = values.get(key, "").strip()
    if not raw:
        return default
    try:
        number = float(raw)
    except ValueError:
        raise SettingsError(f"{key} must be a number, got {raw!r}") from None
    if number < 0:
        raise SettingsError(f"{key} must not be negative, got {raw!r}")
    return number


def load_settings(cwd: Path | None = None) -> Settings:
    """Settings from the process environment, after :func:`load_env_files` has filled it in."""
    load_env_files(cwd)
    values = os.environ
    port = _number(values, "PORT", DEFAULT_PORT)
    if port != int(port) or not 0 < port < 65536:
        raise SettingsError(f"PORT must be a TCP port number (1-65535), got {values.get('PORT')!r}")
    log_level = values.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    return Settings(
        environment=selected_environment(values),
        port=int(port),
        database_url=values.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
        boot_seconds=_number(values, "BOOT_SECONDS", DEFAULT_BOOT_SECONDS),
        version=values.get("SHIPFLOW_VERSION", "").strip() or "0.0.0+unknown",
        sha=values.get("SHIPFLOW_SHA", "").strip() or "unknown",
        log_level=log_level,
        fail_ratio=_fail_ratio(values),
        extra_latency_ms=_number(values, "EXTRA_LATENCY_MS", 0.0),
    )


def _fail_ratio(values: Mapping[str, str]) -> float:
    ratio = _number(values, "FAIL_RATIO", 0.0)
    if ratio > 1:
        raise SettingsError(
            f"FAIL_RATIO is a share of requests from 0 to 1, got {values.get('FAIL_RATIO')!r}"
        )
    return ratio
