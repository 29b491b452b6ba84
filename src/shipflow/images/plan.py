"""What a build makes, as data: tags, OCI labels and build args from the settings and the commit.

Nothing here does I/O. Every value is a function of the commit (never of the clock), so building the
same commit twice sends docker identical instructions and gets the same image id back from its cache.

Version: the release tag at HEAD (``v1.2.3``) when there is one, else ``0.0.0+<12-digit sha>`` (semver
build metadata, so an untagged build sorts below every release); a dirty build adds ``.dirty``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shipflow.images.settings import BaseImage, BuildSettings

APP_LABEL = "shipflow.app"
RELEASE_LABEL = "shipflow.release"
REVISION_LABEL = "org.opencontainers.image.revision"
VERSION_LABEL = "org.opencontainers.image.version"
CREATED_LABEL = "org.opencontainers.image.created"
SOURCE_LABEL = "org.opencontainers.image.source"
MIGRATIONS_HEAD_LABEL = "shipflow.migrations_head"
"""The head revision(s) of the migrations the image holds (a deploy compares it with the database's)."""
DIRTY_SUFFIX = "-dirty"


@dataclass(frozen=True)
class SourceFacts:
    """The git facts one build depends on."""

    sha: str
    committed_at: datetime
    release_tag: str | None = None
    dirty: bool = False
    source: str = ""
    migrations_head: str | None = None  # the alembic head(s) committed here, for a project with any


@dataclass(frozen=True)
class BuildPlan:
    """Everything docker is told for one build."""

    image: str
    release: str
    version: str
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    build_args: Mapping[str, str]
    dockerfile: str
    context: str

    @property
    def release_reference(self) -> str:
        """``image:<sha>`` (or ``image:<sha>-dirty``): the tag a deploy names."""
        return f"{self.image}:{self.release}"


def release_id(facts: SourceFacts) -> str:
    """The release a build is of: the full sha, with ``-dirty`` when tracked changes are included."""
    return facts.sha + (DIRTY_SUFFIX if facts.dirty else "")


def version_of(facts: SourceFacts) -> str:
    """``v1.2.3`` for a tagged clean commit, else ``0.0.0+<sha12>`` (``.dirty`` appended when dirty)."""
    if facts.release_tag and not facts.dirty:
        return facts.release_tag
    return f"0.0.0+{facts.sha[:12]}" + (".dirty" if facts.dirty else "")


def image_tags(image: str, facts: SourceFacts) -> tuple[str, ...]:
    """``image:<sha>``, ``image:latest`` and ``image:vX.Y.Z`` when HEAD carries a release tag.

    A dirty build is only ``image:<sha>-dirty``: ``latest`` and release tags always name a commit.
    """
    if facts.dirty:
        return (f"{image}:{release_id(facts)}",)
    tags = [f"{image}:{facts.sha}", f"{image}:latest"]
    if facts.release_tag:
        tags.append(f"{image}:{facts.release_tag}")
    return tuple(tags)


def iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as OCI's ``created`` label wants: ``2026-11-21T20:48:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def public_source(remote: str | None, root: Path) -> str:
    """Where the source lives, safe to publish: the remote URL without any credentials, else the path.

    ``https://user:token@host/x.git`` becomes ``https://host/x.git``; ``git@host:x.git`` stays.
    """
    if not remote:
        return str(root)
    if "://" not in remote:
        return remote
    parts = urlsplit(remote)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def oci_labels(image: str, facts: SourceFacts) -> dict[str, str]:
    """OCI labels (revision, version, created = commit time, source) plus shipflow's app and release."""
    return {
        REVISION_LABEL: facts.sha,
        VERSION_LABEL: version_of(facts),
        CREATED_LABEL: iso_utc(facts.committed_at),
        SOURCE_LABEL: facts.source,
        APP_LABEL: image,
        RELEASE_LABEL: release_id(facts),
        **({MIGRATIONS_HEAD_LABEL: facts.migrations_head} if facts.migrations_head else {}),
    }


def build_args(facts: SourceFacts, base: BaseImage | None) -> dict[str, str]:
    """``SHIPFLOW_VERSION`` and ``SHIPFLOW_SHA`` for the service to show, and ``BASE_IMAGE`` when set."""
    args = {"SHIPFLOW_VERSION": version_of(facts), "SHIPFLOW_SHA": release_id(facts)}
    if base is not None:
        args["BASE_IMAGE"] = base.reference
    return args


def build_plan(settings: BuildSettings, facts: SourceFacts) -> BuildPlan:
    """The whole plan for building ``facts`` with ``settings``."""
    return BuildPlan(
        image=settings.image,
        release=release_id(facts),
        version=version_of(facts),
        tags=image_tags(settings.image, facts),
        labels=oci_labels(settings.image, facts),
        build_args=build_args(facts, settings.base),
        dockerfile=settings.dockerfile,
        context=settings.context,
    )


def base_image_command(base: BaseImage, *, script_path: Path) -> list[str]:
    """The argv that builds ``base`` with the project's builder script (it skips a present tag)."""
    return [
        "bash",
        str(script_path),
        "--tag",
        base.reference,
        "--suite",
        base.suite,
        *base.packages,
    ]
