"""``shipflow init``: add tasks.py, noxfile.py, tests_config.yaml, envs/, deploy/ and CI files."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from shipflow.errors import exit_codes


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
    from shipflow.scaffold import init_folder
    from shipflow.tasks.flagtypes import nonblank

    with exit_codes("init"):
        lines = init_folder(
            nonblank("--path", path, "the project folder, or leave --path out for this one"), ci or []
        )
    print("\n".join(lines))
