"""``shipflow init``: add tasks.py, noxfile.py, tests_config.yaml, envs/, deploy/ and CI files."""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task


@task(
    name="init",
    iterable=["ci"],
    help={
        "ci": "CI files to add: github, gitlab (repeatable; default github); `--ci none` adds none",
        "path": "the project folder (default: the current folder)",
    },
)
def init(c: Context, ci: list[str] | None = None, path: str = ".") -> None:
    """Add this workflow to an existing project, never overwriting a file, and list what it wrote.

    Writes tasks.py, noxfile.py, tests_config.yaml, envs/ (committed defaults and *.example templates),
    deploy/deploy.toml with its nginx template, .gitignore entries and the CI files.
    """
    from shipflow.ci.workflows import PROVIDERS
    from shipflow.scaffold import init_project

    providers = tuple(ci or ["github"])
    if providers == ("none",):
        providers = ()
    unknown = sorted(set(providers) - set(PROVIDERS))
    if unknown:
        raise Exit(f"init: unknown --ci {', '.join(unknown)}; known: {', '.join(PROVIDERS)} or none", code=2)
    root = Path(path)
    if not root.is_dir():
        raise Exit(f"init: {root} is not a folder; create it or give --path", code=2)
    result = init_project(root, ci_providers=providers)
    for relative in result.written:
        print(f"wrote    {relative}")
    for relative in result.skipped:
        print(f"skipped  {relative} (exists; left as it is)")
    for note in result.notes:
        print(f"next: {note}")
