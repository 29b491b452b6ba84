"""``inv build`` and ``inv build.base``: one image per commit, and the base image it starts from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from shipflow.errors import exit_codes

if TYPE_CHECKING:
    from shipflow.images.progress import BuildOutput

ENV_HELP = "environment the image is for: development, test, staging, production (or dev, stage, prod)"
VERBOSE_HELP = (
    "show docker's whole output; by default one line per step (cached or ran, its time), and a failing "
    "step's own output"
)


@task(
    name="build",
    default=True,
    help={
        "env": ENV_HELP + "; default: APP_ENV, else ENV, else development",
        "allow_dirty": "build uncommitted changes to tracked files even where [tool.shipflow.build] "
        "clean_tree forbids it; the image is tagged <sha>-dirty",
        "verbose": VERBOSE_HELP,
        "archive": "also write the image to FILE as `docker save -o` does, for another machine's "
        "`--image-archive` (CI: build once, deploy that file everywhere)",
    },
)
def build_image(
    c: Context,
    env: str | None = None,
    allow_dirty: bool = False,
    verbose: bool = False,
    archive: str | None = None,
) -> None:
    """Build the image of the current commit from a clean `git archive` export, with the docker SDK.

    Tags <image>:<full sha> and <image>:latest (and <image>:vX.Y.Z when HEAD carries a release tag);
    OCI labels for revision, version, created (the commit time) and source. A dirty tree builds its
    tracked changes as <image>:<sha>-dirty, and is refused for staging and production unless --allow-dirty.
    Prints one line per step as it ends (consecutive cached steps on one line; a progress line on a
    terminal), then the image id, size and tags; a failing step's own output is always shown, docker's
    whole output with --verbose. Settings: [tool.shipflow.build] in pyproject.toml.
    """
    from shipflow.env.names import resolve_environment
    from shipflow.images.build import build_head, built_line, save_archive
    from shipflow.project import load_project

    with exit_codes("build"):
        project = load_project()
        environment = resolve_environment(env, os.environ)
        output = task_output(verbose)
        result = build_head(project, environment, allow_dirty=allow_dirty, output=output)
        output.line(built_line(result, environment))
        if archive is not None:
            output.line(save_archive(result.tags[0], Path(archive)))


@task(help={"verbose": "show debootstrap's whole output; by default only when it fails"})
def base(c: Context, verbose: bool = False) -> None:
    """Build the base image from Debian packages ([tool.shipflow.build.base]); skipped when its tag exists.

    Uses debootstrap and `docker import`, so no registry is needed. A registry image named in
    [tool.shipflow.build.base] image needs nothing built. Prints what it builds and the image's id and
    size; debootstrap's output only when it fails (or with --verbose).
    """
    from shipflow.images.build import build_base
    from shipflow.project import load_project

    with exit_codes("build.base"):
        output = task_output(verbose)
        output.line(build_base(load_project(), output))


def task_output(verbose: bool) -> BuildOutput:
    """A build's output on stdout, every line through shipflow's one mask (a progress line on a terminal)."""
    import sys

    from shipflow.env.masking import mask
    from shipflow.images.progress import output_to

    def line(text: str) -> None:
        print(mask(text), flush=True)

    return output_to(sys.stdout, line, mask=mask, verbose=verbose)


namespace = Collection("build")
namespace.add_task(build_image, default=True)
namespace.add_task(base)
