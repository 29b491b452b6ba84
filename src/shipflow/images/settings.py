"""Image build settings from ``[tool.shipflow.build]`` in pyproject.toml.

```toml
[tool.shipflow.build]
image = "shipflow-example"                  # the image name; required
dockerfile = "examples/service/Dockerfile"  # relative to the context (default "Dockerfile")
context = "."                               # folder of the commit sent to docker (default: the repo root)
retain = 5                                  # release images kept per app on a host (default 5)
clean_tree = ["staging", "production"]      # environments that refuse a dirty tree (the default)

[tool.shipflow.build.base]                  # optional: the base image, passed as build arg BASE_IMAGE
packages = ["python3", "python3-sqlalchemy"]  # built from Debian packages (no registry needed) ...
# image = "python:3.11-slim"                # ... or any image a registry serves (then nothing is built)
```
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from shipflow.project import PYPROJECT, Project, SettingsError, check_keys, shown

SECTION = "build"
DEFAULT_BASE_NAME = "shipflow-base"
DEFAULT_SUITE = "bookworm"
DEFAULT_BASE_SCRIPT = "scripts/build-base-image.sh"
DEFAULT_BASE_PACKAGES = (
    "python3",
    "python3-sqlalchemy",
    "python3-psycopg2",
    "python3-dotenv",
    "python3-alembic",
    "python3-gunicorn",
    "ca-certificates",
)
DEFAULT_CLEAN_TREE = ("staging", "production")
DEFAULT_RETAIN = 5
BUILD_KEYS = ("image", "dockerfile", "context", "retain", "clean_tree", "base")
BASE_KEYS = ("image", "name", "suite", "packages", "script")
# A docker repository name: optional registry host[:port]/, then lowercase path components.
IMAGE_NAME = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
IMAGE_REFERENCE = re.compile(r"^[A-Za-z0-9./:_@-]+$")
DEBIAN_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


@dataclass(frozen=True)
class BaseImage:
    """The image the Dockerfile starts from: a registry ``image``, or one built from Debian ``packages``."""

    image: str | None = None
    name: str = DEFAULT_BASE_NAME
    suite: str = DEFAULT_SUITE
    packages: tuple[str, ...] = DEFAULT_BASE_PACKAGES
    script: str = DEFAULT_BASE_SCRIPT

    @property
    def is_built_here(self) -> bool:
        """Whether shipflow builds this base (no registry image was named)."""
        return self.image is None

    @property
    def reference(self) -> str:
        """What the Dockerfile's ``FROM ${BASE_IMAGE}`` gets: the registry image or the built tag."""
        return self.image if self.image is not None else base_image_tag(self.name, self.suite, self.packages)


@dataclass(frozen=True)
class BuildSettings:
    """What ``inv build`` builds and how it names and keeps the result."""

    image: str
    dockerfile: str = "Dockerfile"
    context: str = "."
    retain: int = DEFAULT_RETAIN
    clean_tree: tuple[str, ...] = DEFAULT_CLEAN_TREE
    base: BaseImage | None = None

    @property
    def dockerfile_in_repo(self) -> str:
        """The Dockerfile's path from the repository root."""
        return (
            self.dockerfile if self.context in ("", ".") else f"{self.context.strip('/')}/{self.dockerfile}"
        )


def base_image_tag(name: str, suite: str, packages: tuple[str, ...]) -> str:
    """``NAME:SUITE-HASH``: HASH changes with the package list (scripts/build-base-image.sh agrees)."""
    package_list = ",".join(sorted(set(packages)))
    digest = hashlib.sha256(f"{suite}:{package_list}".encode()).hexdigest()[:12]
    return f"{name}:{suite}-{digest}"


def _where(project: Project, key: str) -> str:
    return f"{project.root / PYPROJECT}: [tool.shipflow.{SECTION}] {key}"


def _string(section: dict[str, Any], key: str, default: str | None, project: Project) -> str:
    value = section.get(key, default)
    if not isinstance(value, str) or not value.strip():
        if value is None:
            raise SettingsError(f'{_where(project, key)} is not set: add e.g. {key} = "myapp"')
        raise SettingsError(f"{_where(project, key)} must be a non-empty string, got {shown(value)}")
    return value.strip()


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise SettingsError(f"{where} must be a list of non-empty strings, got {shown(value)}")
    return tuple(item.strip() for item in value)


def _relative_path(section: dict[str, Any], key: str, default: str, project: Project) -> str:
    value = _string(section, key, default, project)
    parts = value.split("/")
    if value.startswith("/") or ".." in parts:
        raise SettingsError(
            f"{_where(project, key)} must be a path inside the repository, got {shown(value)}"
        )
    return value


def _base(value: Any, project: Project) -> BaseImage | None:
    if value is None:
        return None
    where = _where(project, "base").replace("] base", ".base]")
    if not isinstance(value, dict):
        raise SettingsError(f'{where} must be a table with packages = [...] or image = "..."')
    check_keys(value, BASE_KEYS, file=project.root / PYPROJECT, prefix=f"tool.shipflow.{SECTION}.base.")
    image = value.get("image")
    if image is not None:
        if not isinstance(image, str) or not IMAGE_REFERENCE.match(image):
            raise SettingsError(
                f'{where} image must be an image reference like "python:3.11-slim", got {shown(image)}'
            )
        if set(value) - {"image"}:
            raise SettingsError(
                f"{where} names a registry image, so packages, name, suite and script do not apply: "
                "remove them"
            )
        return BaseImage(image=image)
    name = value.get("name", DEFAULT_BASE_NAME)
    if not isinstance(name, str) or not IMAGE_NAME.match(name):
        raise SettingsError(
            f'{where} name must be a lowercase image name like "shipflow-base", got {shown(name)}'
        )
    suite = value.get("suite", DEFAULT_SUITE)
    if not isinstance(suite, str) or not re.fullmatch(r"[a-z]+", suite):
        raise SettingsError(f'{where} suite must be a Debian suite name like "bookworm", got {shown(suite)}')
    packages = _strings(value.get("packages", list(DEFAULT_BASE_PACKAGES)), f"{where} packages")
    bad = [package for package in packages if not DEBIAN_PACKAGE.match(package)]
    if bad or not packages:
        raise SettingsError(
            f"{where} packages must be Debian package names; not valid: "
            f"{', '.join(map(repr, bad)) or 'an empty list'}"
        )
    script = value.get("script", DEFAULT_BASE_SCRIPT)
    if not isinstance(script, str) or not (project.root / script).is_file():
        raise SettingsError(f"{where} script {shown(script)} is not a file in {project.root}; fix the path")
    return BaseImage(name=name, suite=suite, packages=packages, script=script)


def build_settings(project: Project) -> BuildSettings:
    """Read and check ``[tool.shipflow.build]``; every error names the file and the key."""
    from shipflow.env.names import canonical_environment

    section = project.section(SECTION, BUILD_KEYS)
    image = _string(section, "image", None, project)
    if not IMAGE_NAME.match(image):
        raise SettingsError(
            f"{_where(project, 'image')} must be a lowercase image name without a tag "
            f"(letters, digits, '.', '_', '-', '/'), got {shown(image)}"
        )
    retain = section.get("retain", DEFAULT_RETAIN)
    if not isinstance(retain, int) or isinstance(retain, bool) or retain < 1:
        raise SettingsError(
            f"{_where(project, 'retain')} must be a whole number of images >= 1, got {shown(retain)}"
        )
    clean_tree = _strings(section.get("clean_tree", list(DEFAULT_CLEAN_TREE)), _where(project, "clean_tree"))
    return BuildSettings(
        image=image,
        dockerfile=_relative_path(section, "dockerfile", "Dockerfile", project),
        context=_relative_path(section, "context", ".", project),
        retain=retain,
        clean_tree=tuple(
            canonical_environment(name, source=_where(project, "clean_tree")) for name in clean_tree
        ),
        base=_base(section.get("base"), project),
    )
