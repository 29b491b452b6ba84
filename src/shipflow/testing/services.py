"""Whether the real services some tests use (docker, nginx, sshd, PostgreSQL, git, a registry) are here.

Each check is quick (a binary on the search path, or a ping with a short timeout) and returns what is
missing and how to set it up, so a test of an enabled group can fail with a message that says what to do.
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

KNOWN_SERVICES = ("docker", "nginx", "sshd", "postgres", "git", "registry")
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")
POSTGRES_HOST = "127.0.0.1"
DEFAULT_POSTGRES_PORT = 5432
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class ServiceStatus:
    """The outcome of one check: ``missing`` says what is wrong (empty when available), ``setup`` the fix."""

    name: str
    missing: str
    setup: str

    @property
    def available(self) -> bool:
        """Whether the service is here and answering."""
        return not self.missing


class UnknownServiceError(ValueError):
    """A service name that shipflow does not know how to check."""


def validate_services(names: tuple[str, ...] | list[str]) -> None:
    """Raise :class:`UnknownServiceError` naming the known services when any name is not one of them."""
    unknown = [name for name in names if name not in KNOWN_SERVICES]
    if unknown:
        raise UnknownServiceError(
            f"unknown service {', '.join(map(repr, unknown))}; known services: {', '.join(KNOWN_SERVICES)}"
        )


def find_binary(name: str) -> str | None:
    """The path of ``name`` on PATH or in the sbin folders (which root's PATH may lack)."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *SBIN_DIRS])
    return shutil.which(name, path=search)


def _docker() -> ServiceStatus:
    setup = "run 'bash scripts/setup.sh' (installs docker.io and starts dockerd)"
    try:
        import docker  # the SDK honours DOCKER_HOST like the docker CLI does

        client = docker.from_env(timeout=int(TIMEOUT_SECONDS))
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:  # any failure to reach the engine means "not reachable"
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        return ServiceStatus("docker", f"the docker engine is not reachable ({detail})", setup)
    return ServiceStatus("docker", "", setup)


def _binary(name: str, what: str, package: str, service: str | None = None) -> Callable[[], ServiceStatus]:
    def check() -> ServiceStatus:
        setup = f"run 'bash scripts/setup.sh' (installs {package})"
        if find_binary(name) is None:
            return ServiceStatus(
                service or name, f"{what} is not installed (no '{name}' on PATH or in /usr/sbin)", setup
            )
        return ServiceStatus(service or name, "", setup)

    return check


def postgres_port() -> int:
    """The port the PostgreSQL check uses: ``PGPORT`` when set, else 5432."""
    value = os.environ.get("PGPORT", "")
    return int(value) if value.isdigit() else DEFAULT_POSTGRES_PORT


def _postgres() -> ServiceStatus:
    port = postgres_port()
    setup = "run 'bash scripts/setup.sh' (installs PostgreSQL and starts it with pg_ctlcluster)"
    missing = f"no PostgreSQL server answers on {POSTGRES_HOST}:{port}"
    pg_isready = find_binary("pg_isready")
    if pg_isready is not None:
        argv = [pg_isready, "-q", "-h", POSTGRES_HOST, "-p", str(port), "-t", str(int(TIMEOUT_SECONDS))]
        try:
            done = subprocess.run(argv, capture_output=True, check=False, timeout=TIMEOUT_SECONDS + 2)
        except subprocess.TimeoutExpired:
            return ServiceStatus("postgres", missing, setup)
        return ServiceStatus("postgres", "" if done.returncode == 0 else missing, setup)
    try:
        with socket.create_connection((POSTGRES_HOST, port), timeout=TIMEOUT_SECONDS):
            pass
    except OSError:
        return ServiceStatus("postgres", missing, setup)
    return ServiceStatus("postgres", "", setup)


CHECKS: dict[str, Callable[[], ServiceStatus]] = {
    "docker": _docker,
    "nginx": _binary("nginx", "nginx", "nginx"),
    "sshd": _binary("sshd", "sshd", "openssh-server"),
    "postgres": _postgres,
    "git": _binary("git", "git", "git"),
    "registry": _binary("docker-registry", "the image registry", "docker-registry", "registry"),
}


def check_service(name: str) -> ServiceStatus:
    """Check one service now (no caching); an unknown name raises :class:`UnknownServiceError`."""
    validate_services([name])
    return CHECKS[name]()
