"""``inv env.check`` and ``inv env.show``: validate and inspect the per-environment settings in ``envs/``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.tasks import task

from shipflow.errors import exit_codes

if TYPE_CHECKING:
    from invoke.context import Context

ENV_HELP = "environment: development, test, staging, production, local (or dev, stage, prod)"


def _line(text: str) -> None:
    print(text, flush=True)


@task(help={"env": ENV_HELP + "; default: every environment whose envs/.env.<name> exists"})
def check(c: Context, env: str | None = None) -> None:
    """Validate env files against [tool.shipflow.env] and guard against committed secrets.

    Reports every problem at once (file:line, key, what is wrong, how to fix it); exit 2 if any.
    """
    from shipflow.env.check import check_env_files
    from shipflow.project import load_project

    with exit_codes("env.check"):
        check_env_files(load_project(), env, os.environ, on_line=_line)


@task(help={"env": ENV_HELP + "; default: $APP_ENV, else $ENV, else development"})
def show(c: Context, env: str | None = None) -> None:
    """Print each key of an environment, its value (secrets masked) and the file:line that set it."""
    from shipflow.env.check import show_environment
    from shipflow.project import load_project

    with exit_codes("env.show"):
        show_environment(load_project(), env, os.environ, on_line=_line)


namespace = Collection("env")
namespace.add_task(check)
namespace.add_task(show)
