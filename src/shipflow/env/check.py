"""What ``inv env.check`` and ``inv env.show`` compute: loaded environments, their problems, and the
secrets every line of output must be masked against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipflow.env.files import EnvLoad, env_file, load_env
from shipflow.env.masking import MASK, mask
from shipflow.env.names import ENVIRONMENTS
from shipflow.env.schema import EnvSchema, validate
from shipflow.problems import Problem


@dataclass(frozen=True)
class EnvReport:
    """One environment's settings as loaded and every problem found in them."""

    load: EnvLoad
    problems: tuple[Problem, ...]

    @property
    def environment(self) -> str:
        """The environment's canonical name."""
        return self.load.environment


def existing_environments(root: Path) -> list[str]:
    """The environments whose own file exists under ``envs/``, in the canonical order."""
    return [name for name in ENVIRONMENTS if (root / env_file(name)).is_file()]


def development_values(root: Path) -> dict[str, str] | None:
    """The development files' values (to catch a copied SECRET_KEY), or None when they do not load."""
    load = load_env(root, "development")
    return load.values() if load.ok else None


def load_environment(root: Path, environment: str, schema: EnvSchema, environ: Mapping[str, str]) -> EnvLoad:
    """An environment's settings with the process environment on top of its files."""
    return load_env(root, environment, environ=environ, declared_keys=[spec.name for spec in schema.keys])


def check_environments(
    root: Path, environments: Sequence[str], schema: EnvSchema, environ: Mapping[str, str]
) -> list[EnvReport]:
    """Load and validate each environment; all problems are collected, none stops the others."""
    development = development_values(root)
    reports = []
    for environment in environments:
        load = load_environment(root, environment, schema, environ)
        reports.append(EnvReport(load, tuple(validate(load, schema, development))))
    return reports


def secrets_of(loads: Iterable[EnvLoad], schema: EnvSchema) -> list[str]:
    """Every value output about ``loads`` must hide."""
    found: list[str] = []
    for load in loads:
        found.extend(schema.secret_values(load.values()))
    return list(dict.fromkeys(found))


def show_rows(load: EnvLoad, schema: EnvSchema, secrets: Sequence[str]) -> list[tuple[str, str, str]]:
    """(key, masked value, where it was set) for each key, in file order; secret keys show only ****."""
    rows = []
    for setting in load.settings.values():
        value = MASK if schema.is_secret(setting.key) and setting.value else mask(setting.value, secrets)
        source = setting.source if setting.line is None else f"{setting.source}:{setting.line}"
        rows.append((setting.key, value, source))
    return rows


def table(rows: Sequence[tuple[str, str, str]], header: tuple[str, str, str]) -> str:
    """Rows as aligned text columns."""
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(2)]
    return "\n".join(
        f"{key:<{widths[0]}}  {value:<{widths[1]}}  {source}".rstrip()
        for key, value, source in [header, *rows]
    )
