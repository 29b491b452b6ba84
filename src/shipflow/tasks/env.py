"""``inv env.check`` and ``inv env.show``: validate and inspect the per-environment settings in ``envs/``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.exceptions import Exit
from invoke.tasks import task

from shipflow.env.masking import mask
from shipflow.project import SettingsError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from invoke.context import Context

    from shipflow.env.schema import EnvSchema
    from shipflow.problems import Problem
    from shipflow.project import Project

ENV_HELP = "environment: development, test, staging, production, local (or dev, stage, prod)"


def _settings(task_name: str) -> tuple[Project, EnvSchema]:
    from shipflow.env.schema import env_schema
    from shipflow.project import load_project

    try:
        project = load_project()
        return project, env_schema(project)
    except SettingsError as error:
        raise Exit(f"{task_name}: {mask(str(error))}", code=2) from None


def _environment(task_name: str, env: str | None) -> str:
    from shipflow.env.names import resolve_environment

    try:
        return resolve_environment(env, os.environ)
    except SettingsError as error:
        raise Exit(f"{task_name}: {error}", code=2) from None


def _print_problems(problems: Iterable[Problem], secrets: list[str]) -> None:
    for problem in problems:
        print(mask(f"  {problem}", secrets), flush=True)


@task(help={"env": ENV_HELP + "; default: every environment whose envs/.env.<name> exists"})
def check(c: Context, env: str | None = None) -> None:
    """Validate env files against [tool.shipflow.env] and guard against committed secrets.

    Reports every problem at once (file:line, key, what is wrong, how to fix it); exit 2 if any.
    """
    from shipflow.env.check import check_environments, existing_environments, secrets_of
    from shipflow.env.secretscan import committed_secret_problems
    from shipflow.problems import errors

    project, schema = _settings("env.check")
    environments = [_environment("env.check", env)] if env else existing_environments(project.root)
    reports = check_environments(project.root, environments, schema, os.environ)
    secrets = secrets_of((report.load for report in reports), schema)
    failed = 0
    for report in reports:
        found = errors(report.problems)
        failed += len(found)
        status = (
            f"FAIL  {report.environment}: {len(found)} problem(s)" if found else f"ok    {report.environment}"
        )
        print(mask(f"{status} ({' < '.join(report.load.files) or 'no files'})", secrets), flush=True)
        _print_problems(report.problems, secrets)
    guard = committed_secret_problems(project.root, schema)
    found = errors(guard)
    failed += len(found)
    print(
        f"{'FAIL' if found else 'ok  '}  committed secrets" + (f": {len(found)} problem(s)" if found else "")
    )
    _print_problems(guard, secrets)
    if failed:
        raise Exit(mask(f"env.check: {failed} problem(s); fix them and run again", secrets), code=2)
    if not environments:
        print("no envs/.env.<environment> file found: nothing to validate")


@task(help={"env": ENV_HELP + "; default: $APP_ENV, else $ENV, else development"})
def show(c: Context, env: str | None = None) -> None:
    """Print each key of an environment, its value (secrets masked) and the file:line that set it."""
    from shipflow.env.check import load_environment, secrets_of, show_rows, table

    project, schema = _settings("env.show")
    environment = _environment("env.show", env)
    load = load_environment(project.root, environment, schema, os.environ)
    secrets = secrets_of([load], schema)
    if not load.ok:
        _print_problems(load.problems, secrets)
        raise Exit(f"env.show: {environment} does not load; run `inv env.check --env {environment}`", code=2)
    print(f"environment: {environment} ({' < '.join([*load.files, 'process environment'])})")
    _print_problems(load.problems, secrets)  # warnings only
    print(mask(table(show_rows(load, schema, secrets), ("KEY", "VALUE", "SET BY")), secrets))


namespace = Collection("env")
namespace.add_task(check)
namespace.add_task(show)
