"""What ``inv env.check`` and ``inv env.show`` compute: loaded environments, their problems, and the
secrets every line of output must be masked against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipflow.env.files import EnvLoad, env_file, load_env
from shipflow.env.masking import MASK, mask, masking
from shipflow.env.names import ENVIRONMENTS, resolve_environment
from shipflow.env.schema import EnvSchema, env_schema, validate
from shipflow.env.secretscan import committed_secret_problems
from shipflow.errors import BadInput
from shipflow.problems import Problem, errors

if TYPE_CHECKING:
    from shipflow.project import Project

LineSink = Callable[[str], None]


class EnvProblems(BadInput):
    """An environment's settings have problems (listed before this error); nothing was changed."""


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


def load_environment(
    root: Path,
    environment: str,
    schema: EnvSchema,
    environ: Mapping[str, str],
    *,
    own_text: tuple[str, str] | None = None,
) -> EnvLoad:
    """An environment's settings with the process environment on top of its files; ``own_text`` (a name
    such as ``$PROD_ENV_FILE`` and its text) takes the place of ``envs/.env.<environment>``."""
    declared = [spec.name for spec in schema.keys]
    return load_env(root, environment, environ=environ, declared_keys=declared, own_text=own_text)


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
        found.extend(schema.load_secrets(load))
    return list(dict.fromkeys(found))


def show_rows(load: EnvLoad, schema: EnvSchema, secrets: Sequence[str]) -> list[tuple[str, str, str]]:
    """(key, masked value, where it was set) for each key, in file order; secret keys show only ****."""
    rows = []
    hide = masking(secrets)
    for setting in load.settings.values():
        value = MASK if schema.is_secret(setting.key) and setting.value else hide(setting.value)
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


def problem_lines(problems: Iterable[Problem], secrets: Sequence[str]) -> list[str]:
    """One indented, masked line per problem."""
    hide = masking(secrets)
    return [hide(f"  {problem}") for problem in problems]


def report_lines(report: EnvReport, secrets: Sequence[str]) -> list[str]:
    """An environment's status line (its files, its problem count), then its problems."""
    found = errors(report.problems)
    status = (
        f"FAIL  {report.environment}: {len(found)} problem(s)" if found else f"ok    {report.environment}"
    )
    files = " < ".join(report.load.files) or "no files"
    return [mask(f"{status} ({files})", secrets), *problem_lines(report.problems, secrets)]


def check_env_files(project: Project, env: str | None, environ: Mapping[str, str], on_line: LineSink) -> None:
    """``inv env.check``: validate ``env`` (default: every environment with a file) and guard against
    committed secrets, every problem on its own masked line; :class:`EnvProblems` when any fails."""
    schema = env_schema(project)
    environments = (
        [resolve_environment(env, environ)] if env is not None else existing_environments(project.root)
    )
    reports = check_environments(project.root, environments, schema, environ)
    secrets = secrets_of((report.load for report in reports), schema)
    guard = committed_secret_problems(project.root, schema)
    found = len(errors(guard))
    lines = [line for report in reports for line in report_lines(report, secrets)]
    lines.append(
        f"{'FAIL' if found else 'ok  '}  committed secrets" + (f": {found} problem(s)" if found else "")
    )
    for line in [*lines, *problem_lines(guard, secrets)]:
        on_line(line)
    failed = found + sum(len(errors(report.problems)) for report in reports)
    if failed:
        raise EnvProblems(f"{failed} problem(s); fix them and run again")
    if not environments:
        on_line("no envs/.env.<environment> file found: nothing to validate")


def show_environment(
    project: Project, env: str | None, environ: Mapping[str, str], on_line: LineSink
) -> None:
    """``inv env.show``: each key of an environment, its masked value and where it was set;
    :class:`EnvProblems` (after listing them) when the environment does not load."""
    schema = env_schema(project)
    environment = resolve_environment(env, environ)
    load = load_environment(project.root, environment, schema, environ)
    secrets = secrets_of([load], schema)
    if not load.ok:
        for line in problem_lines(load.problems, secrets):
            on_line(line)
        raise EnvProblems(f"{environment} does not load; run `inv env.check --env {environment}`")
    on_line(f"environment: {environment} ({' < '.join([*load.files, 'process environment'])})")
    for line in problem_lines(load.problems, secrets):  # warnings only
        on_line(line)
    on_line(mask(table(show_rows(load, schema, secrets), ("KEY", "VALUE", "SET BY")), secrets))
