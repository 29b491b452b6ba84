"""``inv build`` and ``inv build.base``: one image per commit, and the base image it starts from."""

from __future__ import annotations

import os

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from shipflow.errors import exit_codes

ENV_HELP = "environment the image is for: development, test, staging, production (or dev, stage, prod)"


def _line(text: str) -> None:
    print(text, flush=True)


@task(
    name="build",
    default=True,
    help={
        "env": ENV_HELP + "; default: APP_ENV, else ENV, else development",
        "allow_dirty": "build uncommitted changes to tracked files even where [tool.shipflow.build] "
        "clean_tree forbids it; the image is tagged <sha>-dirty",
    },
)
def build_image(c: Context, env: str | None = None, allow_dirty: bool = False) -> None:
    """Build the image of the current commit from a clean `git archive` export, with the docker SDK.

    Tags <image>:<full sha> and <image>:latest (and <image>:vX.Y.Z when HEAD carries a release tag);
    OCI labels for revision, version, created (the commit time) and source. A dirty tree builds its
    tracked changes as <image>:<sha>-dirty, and is refused for staging and production unless --allow-dirty.
    Settings: [tool.shipflow.build] in pyproject.toml.
    """
    from shipflow.env.names import resolve_environment
    from shipflow.images.build import build_head, built_lines
    from shipflow.project import load_project

    with exit_codes("build"):
        project = load_project()
        environment = resolve_environment(env, os.environ)
        result = build_head(project, environment, allow_dirty=allow_dirty, on_line=_line)
    print("\n".join(built_lines(result, environment)))


@task(help={})
def base(c: Context) -> None:
    """Build the base image from Debian packages ([tool.shipflow.build.base]); skipped when its tag exists.

    Uses debootstrap and `docker import`, so no registry is needed. A registry image named in
    [tool.shipflow.build.base] image needs nothing built.
    """
    from shipflow.images.build import build_base
    from shipflow.project import load_project

    with exit_codes("build.base"):
        line = build_base(load_project())
    print(line)


namespace = Collection("build")
namespace.add_task(build_image, default=True)
namespace.add_task(base)
