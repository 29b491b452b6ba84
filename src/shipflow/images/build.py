"""Build an image from a clean export of a commit with the docker SDK, showing each step as it ends (or
docker's whole stream when verbose; :mod:`shipflow.images.progress`).

The build context is ``git archive`` of the commit (or of a commit of the tracked working-tree changes
for a permitted dirty build), so untracked, ignored and uncommitted files can never reach an image.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from shipflow.errors import Failed, Refused
from shipflow.images.base_script import run_base_script
from shipflow.images.labelled import add_labelled_dockerfile
from shipflow.images.plan import BuildPlan, SourceFacts, base_image_command, build_plan, public_source
from shipflow.images.progress import BuildOutput, follow
from shipflow.images.settings import BaseImage, BuildSettings, build_settings
from shipflow.project import Project, SettingsError
from shipflow.release import git

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


class BuildError(Failed):
    """A build cannot start or failed; the message says why and what to do."""


class DockerUnreachable(BuildError):
    """The docker engine does not answer."""


class DirtyTreeRefused(Refused):
    """The working tree has uncommitted tracked changes and the environment builds only commits: a
    refusal (exit 2), nothing was built."""


@dataclass(frozen=True)
class BuildResult:
    """What a build produced."""

    image_id: str
    tags: tuple[str, ...]
    seconds: float
    steps: int
    cached_steps: int
    size: int = 0
    """Bytes, as ``docker image ls`` counts them."""

    @property
    def fully_cached(self) -> bool:
        """Whether every cacheable step came from docker's cache (so nothing was rebuilt)."""
        return self.cached_steps == self.steps

    @property
    def short_id(self) -> str:
        """The first 12 hex digits of the image id, as ``docker image ls`` shows it."""
        return self.image_id.removeprefix("sha256:")[:12]


def docker_host() -> str:
    """The engine address the SDK and the CLI use: ``DOCKER_HOST``, else the default socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def unreachable_message(host: str, detail: str = "") -> str:
    """The one message shown when the engine does not answer."""
    reason = f" ({detail})" if detail else ""
    return (
        f"docker engine not reachable at {host}{reason}: start it with 'bash scripts/setup.sh' "
        "(installs docker.io and starts dockerd), then run again"
    )


def connect_docker() -> Any:
    """A docker SDK client whose engine answered a ping; :class:`DockerUnreachable` otherwise."""
    import docker

    host = docker_host()
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DockerUnreachable(unreachable_message(host, detail[:200])) from None
    return client


def image_present(client: Any, reference: str) -> bool:
    """Whether the engine has ``reference`` (a tag or an id)."""
    import docker

    try:
        client.api.inspect_image(reference)
    except docker.errors.ImageNotFound:
        return False
    return True


@dataclass(frozen=True)
class Source:
    """The commit a build exports, and the facts its tags and labels come from."""

    root: Path
    commit: str
    facts: SourceFacts
    changed: tuple[str, ...] = ()


def read_source(
    start: Path, *, environment: str, settings: BuildSettings, allow_dirty: bool = False
) -> Source:
    """The commit to build from the repository holding ``start``, with the dirty-tree guard applied.

    A dirty tree builds the tracked changes as ``<sha>-dirty``; environments in ``clean_tree`` refuse it
    unless ``allow_dirty``.
    """
    try:
        root = git.repo_root(start)
        sha = git.head_sha(root)
        changed = tuple(git.changed_paths(root))
        if changed and environment in settings.clean_tree and not allow_dirty:
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            raise DirtyTreeRefused(
                f"the working tree has uncommitted changes ({shown}) and {environment} builds only "
                "committed code: commit them, or pass --allow-dirty to build them as "
                f"{settings.image}:{sha}-dirty"
            )
        commit = git.working_tree_commit(root) if changed else sha
        if not git.path_exists_at(root, commit, settings.dockerfile_in_repo):
            raise BuildError(
                f"{settings.dockerfile_in_repo} is not committed at {sha[:12]}: images are built from "
                "commits only, so add and commit it (or fix [tool.shipflow.build] dockerfile)"
            )
        facts = SourceFacts(
            sha=sha,
            committed_at=git.commit_time(root, sha),
            release_tag=git.release_tag_at(root, sha),
            dirty=bool(changed),
            source=public_source(git.remote_url(root), root),
        )
    except git.GitError as error:
        raise BuildError(str(error)) from None
    return Source(root=root, commit=commit, facts=facts, changed=changed)


def with_migrations_head(project: Project, source: Source) -> Source:
    """``source`` with the head revision(s) of the project's migrations as committed in its commit (none
    for a project without alembic settings)."""
    from shipflow.db.heads import migrations_head_at
    from shipflow.db.settings import db_settings

    try:
        versions = db_settings(project).versions_dir.relative_to(source.root)
    except (SettingsError, ValueError):
        return source
    head = migrations_head_at(source.root, source.commit, versions.as_posix())
    return replace(source, facts=replace(source.facts, migrations_head=head))


def build_image(
    client: Any, plan: BuildPlan, context: IO[bytes], output: BuildOutput | None = None
) -> BuildResult:
    """Build ``plan`` from the tar ``context``, show it on ``output``, apply every tag.

    A failed build raises :class:`BuildError` with docker's error, after ``output`` showed the failing
    step's own output.
    """
    import docker

    output = output or BuildOutput()
    started = time.monotonic()
    try:
        chunks = client.api.build(
            fileobj=context,
            custom_context=True,
            dockerfile=plan.dockerfile,
            tag=plan.tags[0],
            labels=dict(plan.labels),
            buildargs=dict(plan.build_args),
            rm=True,
            forcerm=True,
            decode=True,
        )
        log = follow(chunks, output)
        if log.error:
            raise BuildError(f"docker build failed: {log.error}")
        if not log.image_id:
            raise BuildError(
                "docker build finished without reporting an image id; run again with --verbose to see "
                "docker's whole output"
            )
        inspected = client.api.inspect_image(log.image_id)
        image_id = str(inspected["Id"])
        for reference in plan.tags[1:]:
            repository, _, tag = reference.rpartition(":")
            client.api.tag(image_id, repository, tag, force=True)
    except docker.errors.DockerException as error:
        raise BuildError(f"docker build failed: {error}") from None
    return BuildResult(
        image_id=image_id,
        tags=plan.tags,
        seconds=time.monotonic() - started,
        steps=log.cacheable_steps,
        cached_steps=log.cached_steps,
        size=int(inspected.get("Size") or 0),
    )


def ensure_base_image(
    client: Any, base: BaseImage | None, root: Path, output: BuildOutput | None = None
) -> bool:
    """Build the base image with the project's script when it is built here and missing; True if built.

    Without ``output`` (or with a verbose one) the script writes straight to this process's stdout and
    stderr; otherwise its output is shown only when it fails.
    """
    if base is None or not base.is_built_here or image_present(client, base.reference):
        return False
    argv = base_image_command(base, script_path=root / base.script)
    code = run_base_script(argv, root, output or BuildOutput(verbose=True))
    if code != 0:
        raise BuildError(f"building the base image {base.reference} failed (exit {code}); see above")
    return True


def build_release(
    client: Any, settings: BuildSettings, source: Source, output: BuildOutput | None = None
) -> BuildResult:
    """Export ``source``'s commit with ``git archive`` and build it with ``settings``."""
    plan = build_plan(settings, source.facts)
    with tempfile.TemporaryFile(prefix="shipflow-context-") as context:
        try:
            git.write_archive(source.root, source.commit, context, subdir=settings.context)
        except git.GitError as error:
            raise BuildError(str(error)) from None
        dockerfile = add_labelled_dockerfile(context, plan.dockerfile, plan.labels)
        if dockerfile is not None:  # the labels are its last instruction
            plan = replace(plan, dockerfile=dockerfile, labels={})
        context.seek(0)
        return build_image(client, plan, context, output)


def build_head(
    project: Project, environment: str, *, allow_dirty: bool = False, output: BuildOutput | None = None
) -> BuildResult:
    """Build the project's current commit for ``environment``: what ``inv build`` and deploys call.

    Builds the base image first when it is missing; a dirty tree is refused where ``clean_tree`` says so.
    """
    output = output or BuildOutput()
    settings = build_settings(project)
    source = read_source(project.root, environment=environment, settings=settings, allow_dirty=allow_dirty)
    source = with_migrations_head(project, source)
    client = connect_docker()
    ensure_base_image(client, settings.base, project.root, output)
    if source.changed:
        output.line(f"building uncommitted changes to {len(source.changed)} tracked file(s) as a dirty image")
    return build_release(client, settings, source, output)


def megabytes(size: int) -> str:
    """``173.2 MB``: bytes in decimal megabytes, as docker counts them."""
    return f"{size / 1_000_000:.1f} MB"


def built_line(result: BuildResult, environment: str) -> str:
    """The last line of a build: the image id and size, for which environment, time, cache use, every tag."""
    cache = (
        "every step from cache"
        if result.fully_cached
        else f"{result.cached_steps}/{result.steps} steps from cache"
    )
    return (
        f"built {result.short_id} ({megabytes(result.size)}) for {environment} in {result.seconds:.1f}s, "
        f"{cache}; tagged {', '.join(result.tags)}"
    )


def save_archive(reference: str, path: Path) -> str:
    """Write the image ``reference`` (with its tag) to ``path`` as ``docker save -o`` does, through a
    partial file renamed into place, so a failed save leaves no archive; the line saying what was written."""
    import docker

    client = connect_docker()
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as archive:
            for chunk in client.api.get_image(reference, chunk_size=1024 * 1024):
                archive.write(chunk)
        partial.replace(path)
    except (OSError, docker.errors.DockerException) as error:
        partial.unlink(missing_ok=True)
        raise BuildError(f"cannot save {reference} to {path}: {error}") from None
    size = megabytes(path.stat().st_size)
    return f"saved {reference} to {path} ({size}): deploy it with --image-archive {path}"


def build_base(project: Project, output: BuildOutput | None = None) -> str:
    """Build the project's base image when it is built here and missing; the line saying what happened."""
    base = build_settings(project).base
    if base is None:
        return "build.base: no base image is configured; nothing to build"
    if not base.is_built_here:
        return f"build.base: {base.reference} comes from a registry; nothing to build"
    client = connect_docker()
    built = ensure_base_image(client, base, project.root, output or BuildOutput())
    return (
        f"{'built' if built else 'present, skipped:'} {base.reference}{image_summary(client, base.reference)}"
    )


def image_summary(client: Any, reference: str) -> str:
    """`` (d5c28fef8a54, 181.0 MB)``: the short id and size of ``reference`` ('' if docker cannot tell)."""
    import docker

    try:
        inspected = client.api.inspect_image(reference)
    except docker.errors.DockerException:
        return ""
    short_id = str(inspected["Id"]).removeprefix("sha256:")[:12]
    return f" ({short_id}, {megabytes(int(inspected.get('Size') or 0))})"


def head_release_reference(project: Project, environment: str, *, allow_dirty: bool = False) -> str:
    """``image:<sha>`` that :func:`build_head` would build now, without building (for dry runs)."""
    settings = build_settings(project)
    source = read_source(project.root, environment=environment, settings=settings, allow_dirty=allow_dirty)
    return build_plan(settings, source.facts).release_reference
