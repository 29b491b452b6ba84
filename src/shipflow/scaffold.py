"""``shipflow init``: add the shipflow workflow to an existing project without overwriting anything.

The files are this repository's own tasks.py, noxfile.py, tests_config.yaml, envs/ and deploy/ settings in
a generic form (package data under ``shipflow/templates/project``), plus the generated CI files. A file
that already exists is left alone and reported as skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from shipflow.errors import BadInput

APP_PLACEHOLDER = "__APP__"

TEMPLATE_FILES: tuple[tuple[str, str], ...] = (
    ("tasks.py.tmpl", "tasks.py"),
    ("noxfile.py.tmpl", "noxfile.py"),
    ("tests_config.yaml", "tests_config.yaml"),
    ("envs/env", "envs/.env"),
    ("envs/env.development", "envs/.env.development"),
    ("envs/env.test", "envs/.env.test"),
    ("envs/env.local", "envs/.env.local"),
    ("envs/env.staging.example", "envs/.env.staging.example"),
    ("envs/env.production.example", "envs/.env.production.example"),
    ("deploy/deploy.toml", "deploy/deploy.toml"),
    ("deploy/nginx/upstream.conf.tmpl", "deploy/nginx/upstream.conf.tmpl"),
    ("gitignore", ".gitignore"),
)
"""Template (under ``shipflow/templates/project``) -> path in the project."""

GITIGNORE_LINES: tuple[str, ...] = ("envs/.env.staging", "envs/.env.production")


class InitError(BadInput):
    """``--ci`` names an unknown provider, or ``--path`` is not a folder; nothing was written."""


@dataclass(frozen=True)
class InitResult:
    """What ``init`` did: files written, files that existed and were left alone, and advice."""

    written: tuple[str, ...]
    skipped: tuple[str, ...]
    notes: tuple[str, ...]


def app_name(root: Path) -> str:
    """A lower-case app name from the project folder's name (what deploy.toml and nginx use)."""
    cleaned = re.sub(r"[^a-z0-9_.-]+", "-", root.resolve().name.lower()).strip("-._")
    return cleaned if cleaned and cleaned[0].isalnum() else f"app-{cleaned}".rstrip("-") or "app"


def _enabled_groups(root: Path, planned_config: str) -> tuple[str, ...] | None:
    """The test groups the CI files fan out over: those of the project's own tests_config.yaml when it
    has one (init leaves it as it is), else those of the one init writes."""
    from shipflow.ci.generate import enabled_groups
    from shipflow.testing.groups import CONFIG_FILE, parse_groups_config

    if (root / CONFIG_FILE).is_file():
        return enabled_groups(root)
    return parse_groups_config(planned_config, root / CONFIG_FILE).enabled


def planned_files(app: str, ci_providers: tuple[str, ...], root: Path) -> dict[str, str]:
    """Every file ``init`` would write into ``root``: path relative to the project -> text."""
    from shipflow.ci.workflows import ci_files

    templates = files("shipflow").joinpath("templates", "project")
    planned: dict[str, str] = {}
    for source, destination in TEMPLATE_FILES:
        text = templates.joinpath(*source.split("/")).read_text(encoding="utf-8")
        planned[destination] = text.replace(APP_PLACEHOLDER, app)
    groups = _enabled_groups(root, planned["tests_config.yaml"]) if ci_providers else None
    for provider in ci_providers:
        planned.update(ci_files(provider, groups))
    return planned


def init_project(root: Path, *, ci_providers: tuple[str, ...] = ("github",)) -> InitResult:
    """Write the workflow files into ``root``, never overwriting one that exists."""
    written: list[str] = []
    skipped: list[str] = []
    for relative, text in planned_files(app_name(root), ci_providers, root).items():
        path = root / relative
        if path.exists():
            skipped.append(relative)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(relative)
    notes: list[str] = [*_own_tasks_py_note(root)] if "tasks.py" in skipped else []
    gitignore = root / ".gitignore"
    if ".gitignore" in skipped:
        present = set(gitignore.read_text(encoding="utf-8").split())
        missing = [line for line in GITIGNORE_LINES if line not in present]
        if missing:
            notes.append(f"add to .gitignore (real settings must never be committed): {', '.join(missing)}")
    notes.append(
        'add `shipflow[dev]` to your dev dependencies, and [tool.shipflow.build] image = "NAME" to '
        "pyproject.toml for `inv build`"
    )
    notes.append("then: `inv --list`, `inv lint`, `inv env.check`")
    return InitResult(written=tuple(written), skipped=tuple(skipped), notes=tuple(notes))


SHIPFLOW_IN_TASKS_PY: tuple[str, ...] = (
    "from shipflow.tasks import including_shipflow  # shipflow's tasks beside this file's own",
    "namespace = including_shipflow(__name__)",
)
"""The lines that give a project's own tasks.py shipflow's tasks, at its end (after its own tasks)."""


def _own_tasks_py_note(root: Path) -> list[str]:
    """What to add to a tasks.py that was there before and does not load shipflow's tasks yet."""
    if "shipflow" in (root / "tasks.py").read_text(encoding="utf-8", errors="replace"):
        return []
    return [
        "tasks.py is your own, so `inv` does not know shipflow's tasks yet; add these lines at its end:",
        *(f"    {line}" for line in SHIPFLOW_IN_TASKS_PY),
    ]


def ci_providers(ci: Sequence[str]) -> tuple[str, ...]:
    """The CI providers ``--ci`` names: github when none is given, none for ``none``."""
    from shipflow.ci.workflows import PROVIDERS

    providers = tuple(ci or ["github"])
    if providers == ("none",):
        return ()
    unknown = sorted(set(providers) - set(PROVIDERS))
    if unknown:
        raise InitError(f"unknown --ci {', '.join(unknown)}; known: {', '.join(PROVIDERS)} or none")
    return providers


def init_folder(path: str, ci: Sequence[str]) -> list[str]:
    """``shipflow init`` in the folder ``path``: the lines listing what was written, skipped and next."""
    providers = ci_providers(ci)
    root = Path(path)
    if not root.is_dir():
        raise InitError(f"{root} is not a folder; create it or give --path")
    result = init_project(root, ci_providers=providers)
    return [
        *(f"wrote    {relative}" for relative in result.written),
        *(f"skipped  {relative} (exists; left as it is)" for relative in result.skipped),
        *(note if note.startswith(" ") else f"next: {note}" for note in result.notes),
    ]
