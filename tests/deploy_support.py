"""Real releases and real projects for deploy tests: images of the example service, a project in a temp
folder whose local target uses free 127.0.0.1 ports, and helpers to ask nginx which release answers.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from support import REPO, run_shipflow

SERVICE_FILES = ("examples/service", "scripts/start.sh")
MIGRATION_VERSIONS = "examples/service/migrations/versions"
CANARY_SECRET = "canary-secret-value-7f3a9c1e5b"


@dataclass(frozen=True)
class ServiceRelease:
    """An image of the example service and the sha it reports."""

    image: str
    sha: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_context(extra_files: dict[str, bytes] | None = None) -> bytes:
    """A tar build context of the example service as it is in this working tree."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for relative in SERVICE_FILES:
            archive.add(REPO / relative, arcname=relative, filter=_no_caches)
        for name, content in (extra_files or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _no_caches(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if "__pycache__" in info.name else info


def docker_build(tag: str, context: bytes, *args: str) -> None:
    done = subprocess.run(
        ["docker", "build", "--quiet", "--tag", tag, *args, "-"],
        input=context,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"docker build {tag} failed:\n{done.stderr.decode()}")


def base_image() -> str:
    """The example service's base image, built from Debian packages when missing (about a minute)."""
    from shipflow.images.build import connect_docker, ensure_base_image
    from shipflow.images.settings import build_settings
    from shipflow.project import load_project

    settings = build_settings(load_project(REPO))
    assert settings.base is not None
    ensure_base_image(connect_docker(), settings.base, REPO)
    return settings.base.reference


def migrations_head_of(context: bytes) -> str:
    """The head revision of the example service's migrations in a build context, as `inv build` labels it."""
    from shipflow.db.heads import heads_of

    lines = []
    with tarfile.open(fileobj=io.BytesIO(context)) as archive:
        for member in archive.getmembers():
            if (
                member.isfile()
                and member.name.startswith(f"{MIGRATION_VERSIONS}/")
                and member.name.endswith(".py")
            ):
                text = archive.extractfile(member).read().decode()  # type: ignore[union-attr]
                lines += [(member.name, line) for line in text.splitlines()]
    head = heads_of(lines)
    assert head is not None, "the example service's migrations have no readable head"
    return head


def build_release(repository: str, name: str, base: str, context: bytes | None = None) -> ServiceRelease:
    """An image of the example service labelled as release ``name`` (its sha is made unique per run) and
    with its migrations' head, as `inv build` labels it."""
    sha = f"{name}{uuid.uuid4().hex}"[:40]
    context = context if context is not None else service_context()
    docker_build(
        f"{repository}:{sha}",
        context,
        "--file", "examples/service/Dockerfile",
        "--build-arg", f"BASE_IMAGE={base}",
        "--build-arg", f"SHIPFLOW_SHA={sha}",
        "--build-arg", f"SHIPFLOW_VERSION={name}",
        "--label", f"org.opencontainers.image.revision={sha}",
        "--label", f"org.opencontainers.image.version={name}",
        "--label", f"shipflow.app={repository}",
        "--label", f"shipflow.migrations_head={migrations_head_of(context)}",
    )  # fmt: skip
    return ServiceRelease(f"{repository}:{sha}", sha)


def build_never_healthy(repository: str, of: ServiceRelease) -> ServiceRelease:
    """A release whose service never finishes booting, so its health check never passes."""
    return build_variant(repository, of, "broken", {"BOOT_SECONDS": "100000"})


def build_variant(repository: str, of: ServiceRelease, name: str, env: dict[str, str]) -> ServiceRelease:
    """A release of its own (a new sha, version ``name``) built on ``of`` with ``env`` set in its image,
    e.g. the example service's test knobs ``FAIL_RATIO`` or ``EXTRA_LATENCY_MS``."""
    sha = f"{name}{uuid.uuid4().hex}"[:40]
    settings = " ".join(f"{key}={value}" for key, value in {**env, "SHIPFLOW_SHA": sha}.items())
    dockerfile = f"FROM {of.image}\nENV {settings}\n"
    dockerfile += f"LABEL org.opencontainers.image.revision={sha} org.opencontainers.image.version={name}\n"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        archive.addfile(info, io.BytesIO(dockerfile.encode()))
    docker_build(f"{repository}:{sha}", context.getvalue())
    return ServiceRelease(f"{repository}:{sha}", sha)


def fetch(url: str) -> tuple[int, dict[str, str], str]:
    """Status, headers and body of one GET on a new connection (an error status is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@dataclass(frozen=True)
class DeployProject:
    """A project folder whose local target runs on free ports, with its own nginx and state."""

    root: Path
    app: str
    proxy_url: str
    slots: tuple[int, int]

    def shipflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_shipflow(*args, cwd=self.root)

    def deploy(self, release: ServiceRelease, *args: str) -> subprocess.CompletedProcess[str]:
        return self.shipflow("deploy.local", "--image", release.image, *args)

    def served_sha(self) -> str:
        """The sha of the release nginx routes ``GET /`` to."""
        with urllib.request.urlopen(f"{self.proxy_url}/", timeout=5) as response:  # noqa: S310 (loopback)
            return str(json.loads(response.read())["sha"])

    def containers(self, *, settled: bool = True) -> dict[str, tuple[bool, str]]:
        """This app's containers: name -> (running, sha label); ``settled``: once those a deploy left
        stopping in the background are down (bounded, like their ``docker stop``)."""
        stopping = self.root / ".shipflow" / "local" / "stopping"
        names = stopping.read_text().split() if settled and stopping.exists() else []
        deadline = time.monotonic() + 20
        found = self._containers()
        while any(found.get(name, (False, ""))[0] for name in names) and time.monotonic() < deadline:
            time.sleep(0.1)
            found = self._containers()
        return found

    def _containers(self) -> dict[str, tuple[bool, str]]:
        listed = subprocess.run(
            ["docker", "ps", "--all", "--filter", f"label=shipflow.app={self.app}", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if not listed:
            return {}
        inspected = json.loads(
            subprocess.run(["docker", "inspect", *listed], capture_output=True, text=True, check=True).stdout
        )
        return {
            entry["Name"].lstrip("/"): (
                entry["State"]["Running"],
                entry["Config"]["Labels"].get("shipflow.sha", ""),
            )
            for entry in inspected
        }

    def upstream_file(self) -> Path:
        return self.root / ".shipflow" / "local" / "nginx" / "upstream.conf"

    @property
    def data_volume(self) -> str:
        """The named volume both slots mount at /data (where the SQLite database lives)."""
        return f"{self.app}-data"

    def tear_down(self) -> None:
        self.shipflow("deploy.remove", "--env", "local")
        names = list(self.containers())
        if names:
            subprocess.run(["docker", "rm", "--force", *names], capture_output=True, check=False)
        subprocess.run(
            ["docker", "volume", "rm", "--force", self.data_volume], capture_output=True, check=False
        )


def make_project(
    root: Path,
    repository: str,
    *,
    deploy_timeout: float = 20.0,
    migrate: str = "before-switch",
    switch: str | None = None,
    bake: str = "seconds = 0",
) -> DeployProject:
    """Write a project that deploys ``repository`` images to free 127.0.0.1 ports; ``switch`` names how
    traffic moves between slots ("nat" or "reload"; unset: shipflow's default for this machine); ``bake``
    is its ``[bake]`` table (no bake window, even for a production target added to it, unless asked)."""

    app = f"sfe2e-{uuid.uuid4().hex[:8]}"
    slots = (free_port(), free_port())
    proxy = free_port()
    (root / "envs").mkdir(parents=True)
    (root / "deploy" / "nginx").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[tool.shipflow.build]\nimage = "{repository}"\n')
    shutil.copy(REPO / "envs" / ".env", root / "envs" / ".env")
    local_env = (REPO / "envs" / ".env.local").read_text()
    (root / "envs" / ".env.local").write_text(
        local_env.replace("local-insecure-secret-key-do-not-use-elsewhere", CANARY_SECRET)
    )
    shutil.copy(
        REPO / "deploy" / "nginx" / "upstream.conf.tmpl", root / "deploy" / "nginx" / "upstream.conf.tmpl"
    )
    (root / "deploy" / "deploy.toml").write_text(
        f"""\
app = "{app}"
container_port = 8000
volumes = ["{app}-data:/data"]
migrate = "{migrate}"


[health]
deploy_timeout = {deploy_timeout}

[bake]
{bake}

[targets.local]
slots = [{slots[0]}, {slots[1]}]
proxy_port = {proxy}
drain_timeout = 10
stop_timeout = 5
switch_port = {free_port()}
maintenance_port = {free_port()}
{f'switch = "{switch}"' if switch else ""}
"""
    )
    return DeployProject(root=root, app=app, proxy_url=f"http://127.0.0.1:{proxy}", slots=slots)
