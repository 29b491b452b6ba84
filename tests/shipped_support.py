"""The example service as a project on main whose production target is a network-namespace server with its
own docker engine (tests/netns_support.py), behind a balancer on 127.0.0.1: what the end-to-end tests of
``inv deploy.prod`` (build HEAD here, stream it there) start from.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy_support import SERVICE_FILES, base_image
from netns_support import NamespaceServer, make_namespace_project, namespace_server
from ssh_support import PRODUCTION_ENV, ServerNginx, keygen, start_nginx
from support import REPO, git, remove_test_images, run_shipflow, user_environ


@dataclass
class Shipped:
    """A project on main whose production target is the namespace server, behind a local balancer."""

    root: Path
    folder: Path  # the deployer's key (user_ed25519) and known_hosts
    server: NamespaceServer
    balancer: ServerNginx

    @property
    def host(self) -> str:
        return f"root@{self.server.address}:{self.server.ssh_port}"

    def shipflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_shipflow(*args, cwd=self.root, env=user_environ(PROD_ENV_FILE=PRODUCTION_ENV))

    def head(self) -> str:
        return git(self.root, "rev-parse", "HEAD").strip()

    def commit_and_push(self, message: str) -> str:
        git(self.root, "add", "--all")
        git(self.root, "commit", "--quiet", "-m", message)
        git(self.root, "push", "--quiet", "origin", "main")
        return self.head()

    def served_sha(self) -> str:
        return str(self.server.served("/")["sha"])


def local_image_id(reference: str) -> str:
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", reference],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def base_section() -> str:
    """This repository's ``[tool.shipflow.build.base]``, so the base image it already built is reused."""
    base = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["shipflow"]["build"]["base"]
    packages = ", ".join(f'"{package}"' for package in base["packages"])
    return (
        f'[tool.shipflow.build.base]\nname = "{base["name"]}"\nsuite = "{base["suite"]}"\n'
        f'packages = [{packages}]\nscript = "{base["script"]}"\n'
    )


def copy_service(root: Path) -> None:
    """The example service's files, as in this repository."""
    for relative in (*SERVICE_FILES, "scripts/build-base-image.sh"):
        source, target = REPO / relative, root / relative
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)


@contextlib.contextmanager
def server_behind_balancer(folder: Path, *, app: str) -> Iterator[tuple[NamespaceServer, ServerNginx]]:
    """A namespace server that takes the deployer's key (``folder/user_ed25519``), behind a balancer on
    127.0.0.1 that routes ``app`` to the server's nginx; both gone afterwards."""
    keygen(folder / "user_ed25519")
    common = folder / "srv"
    common.mkdir()
    balancer = start_nginx(folder / "balancer", app)
    ssh_port = balancer.port + 1 if balancer.port < 65535 else balancer.port - 1
    try:
        with namespace_server(
            folder / "server", common, user_public_key=folder / "user_ed25519.pub",
            ssh_port=ssh_port, nginx_port=balancer.port, app=app,
        ) as server:  # fmt: skip
            # Pooled, as load balancers keep them: a new connection per request to the server would run
            # this machine out of ports (TIME_WAIT off loopback) under the tests' load.
            backend = f"server {server.address}:{balancer.port};\n    keepalive 16;"
            balancer.upstream_path.write_text(f"upstream {app}_backend {{\n    {backend}\n}}\n")
            subprocess.run([*balancer.argv, "-s", "reload"], check=True, capture_output=True)
            yield server, balancer
    finally:
        balancer.stop()


@contextlib.contextmanager
def example_service_shipped(folder: Path, *, app: str, repository: str) -> Iterator[Shipped]:
    """The project (in ``folder``), its server and balancer, all gone afterwards with the images it built."""
    base_image()  # present before the clock of any deploy starts (about a minute when missing)
    try:
        with server_behind_balancer(folder, app=app) as (server, balancer):
            root = folder / "project"
            root.mkdir()
            copy_service(root)
            build = f'dockerfile = "examples/service/Dockerfile"\ncontext = "."\n\n{base_section()}'
            build += '\n[tool.shipflow.db]\nalembic_ini = "examples/service/alembic.ini"\n'
            make_namespace_project(
                root, folder, [server], app=app, repository=repository, public_url=balancer.url,
                pyproject_extra=build, deploy_extra=f'volumes = ["{app}-data:/data"]\n',
            )  # fmt: skip
            yield Shipped(root, folder, server, balancer)
    finally:
        remove_test_images(repository)
