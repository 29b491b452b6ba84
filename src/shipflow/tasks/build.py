"""``inv build`` and ``inv build.base``: one image per commit, and the base image it starts from."""

from __future__ import annotations

import os

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from shipflow.project import SettingsError, load_project

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
    from shipflow.images.build import BuildError, build_head

    try:
        project = load_project()
        environment = resolve_environment(env, os.environ)
        result = build_head(project, environment, allow_dirty=allow_dirty, on_line=_line)
    except SettingsError as error:
        raise Exit(f"build: {error}", code=2) from None
    except BuildError as error:
        raise Exit(f"build: {error}", code=1) from None
    cache = (
        "every step from cache"
        if result.fully_cached
        else f"{result.cached_steps}/{result.steps} steps from cache"
    )
    print(f"built {result.tags[0]} ({result.short_id}) for {environment} in {result.seconds:.1f}s, {cache}")
    for reference in result.tags:
        print(f"  tagged {reference}")


@task(help={})
def base(c: Context) -> None:
    """Build the base image from Debian packages ([tool.shipflow.build.base]); skipped when its tag exists.

    Uses debootstrap and `docker import`, so no registry is needed. A registry image named in
    [tool.shipflow.build.base] image needs nothing built.
    """
    from shipflow.images.build import BuildError, connect_docker, ensure_base_image
    from shipflow.images.settings import build_settings

    try:
        project = load_project()
        settings = build_settings(project)
    except SettingsError as error:
        raise Exit(f"build.base: {error}", code=2) from None
    if settings.base is None or not settings.base.is_built_here:
        named = (
            "no base image is configured"
            if settings.base is None
            else f"{settings.base.reference} comes from a registry"
        )
        print(f"build.base: {named}; nothing to build")
        return
    try:
        built = ensure_base_image(connect_docker(), settings.base, project.root)
    except BuildError as error:
        raise Exit(f"build.base: {error}", code=1) from None
    print(f"{'built' if built else 'present, skipped:'} {settings.base.reference}")


namespace = Collection("build")
namespace.add_task(build_image, default=True)
namespace.add_task(base)
