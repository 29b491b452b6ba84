"""The default production deploy, end to end: ``inv deploy.prod --yes`` with no image given builds the
project's HEAD on this machine's docker engine and streams ``docker save`` of it over SSH into the server's
engine; with a registry configured, it pushes the build there and the server pulls it.

The server is a network namespace with its own docker engine, sshd and nginx (tests/netns_support.py), so
its engine starts without the image and a transfer is observable: the image id the server ends up with is
the id this machine built. Load goes through a balancer on 127.0.0.1 in front of the server's nginx.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import tomllib
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploy_support import CANARY_SECRET, SERVICE_FILES, base_image, fetch
from netns_support import NamespaceServer, make_namespace_project, namespace_server
from registry_support import registry_on
from ssh_support import PRODUCTION_ENV, ServerNginx, keygen, start_nginx
from support import REPO, git, remove_test_images, run_shipflow, user_environ

from shipflow.testing.loadgen import KEEPALIVE, PAGE, LoadGenerator

pytestmark = [
    pytest.mark.ssh,
    pytest.mark.e2e,
    pytest.mark.needs("sshd", "docker", "nginx", "git", "registry"),
]

REPOSITORY = f"shipflow-head-{uuid.uuid4().hex[:6]}"
APP = f"sfhead-{uuid.uuid4().hex[:8]}"


@dataclass
class Shipped:
    """A project on main whose production target is the namespace server, behind a local balancer."""

    root: Path
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


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shipped]:
    base_image()  # present before the clock of any deploy starts (about a minute when missing)
    folder = tmp_path_factory.mktemp("head")
    keygen(folder / "user_ed25519")
    common = folder / "srv"
    common.mkdir()
    balancer = start_nginx(folder / "balancer", APP)
    ssh_port = balancer.port + 1 if balancer.port < 65535 else balancer.port - 1
    try:
        with namespace_server(
            folder / "server", common, user_public_key=folder / "user_ed25519.pub",
            ssh_port=ssh_port, nginx_port=balancer.port, app=APP,
        ) as server:  # fmt: skip
            balancer.upstream_path.write_text(
                f"upstream {APP}_backend {{\n    server {server.address}:{balancer.port};\n}}\n"
            )
            subprocess.run([*balancer.argv, "-s", "reload"], check=True, capture_output=True)
            root = folder / "project"
            root.mkdir()
            copy_service(root)
            build = f'dockerfile = "examples/service/Dockerfile"\ncontext = "."\n\n{base_section()}'
            build += '\n[tool.shipflow.db]\nalembic_ini = "examples/service/alembic.ini"\n'
            make_namespace_project(
                root, folder, [server], app=APP, repository=REPOSITORY, public_url=balancer.url,
                pyproject_extra=build, deploy_extra=f'volumes = ["{APP}-data:/data"]\n',
            )  # fmt: skip
            yield Shipped(root, server, balancer)
    finally:
        balancer.stop()
        remove_test_images(REPOSITORY)


def test_default_prod_deploy_builds_head_streams_it_once_and_switches_under_load(shipped: Shipped) -> None:
    server = shipped.server
    first_sha = shipped.head()

    first = shipped.shipflow("deploy.prod", "--yes")

    out = first.stdout
    assert first.returncode == 0, out + first.stderr
    assert f"{REPOSITORY}:{first_sha}" in out  # the build of HEAD, named by its sha
    assert f"  migrations on {shipped.host}: nothing deployed yet: every migration of the release" in out
    assert "0001 (" in out and "0003 (" in out  # listed from this checkout's migrations, for approval
    assert f"is not on {shipped.host}: streaming it over ssh" in out
    sent = re.search(r"sent [\d.]+ [KMG]?B \(gzip of [\d.]+ [KMG]?B\) in [\d.]+s, [\d.]+ [KMG]?B/s", out)
    assert sent, out
    print(f"transfer of the HEAD build: {sent.group(0)}")  # the figure the closing note quotes
    built_here = local_image_id(f"{REPOSITORY}:{first_sha}")
    assert built_here in server.image_ids()  # the very image this machine built
    assert shipped.served_sha() == first_sha
    assert CANARY_SECRET not in out + first.stderr

    again = shipped.shipflow("deploy.prod", "--yes")

    assert again.returncode == 0, again.stdout + again.stderr
    assert "already serving" in again.stdout
    assert f"  migrations pending on {shipped.host} (database at 0003): none" in again.stdout  # asked the db
    assert "streaming" not in again.stdout and "sent " not in again.stdout

    (shipped.root / "CHANGES.md").write_text("A second release.\n")
    second_sha = shipped.commit_and_push("a second release")
    with LoadGenerator(f"{shipped.balancer.url}/", workers=4, keepalive_workers=4, max_seconds=180) as load:
        time.sleep(0.5)
        started = time.monotonic()
        switched = shipped.shipflow("deploy.prod", "--yes")
        took = time.monotonic() - started
        time.sleep(0.5)

    assert switched.returncode == 0, switched.stdout + switched.stderr
    print(f"build, transfer and switch of a new commit under load: {took:.1f}s")
    assert f"is not on {shipped.host}: streaming it over ssh" in switched.stdout
    assert local_image_id(f"{REPOSITORY}:{second_sha}") in server.image_ids()
    assert "no nginx reload" in switched.stdout  # the server's own NAT table, in its network namespace
    assert load.result.failed == 0, load.result.failures
    assert load.result.modes[KEEPALIVE].requests > 0
    assert load.result.served_by[first_sha] > 0 and load.result.served_by[second_sha] > 0
    assert shipped.served_sha() == second_sha

    audit = shipped.shipflow("deploy.audit", "--env", "production", "--json")
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(r["action"], r["result"], r["to_sha"]) for r in records] == [
        ("deploy", "ok", first_sha),
        ("deploy", "ok", first_sha),
        ("deploy", "ok", second_sha),
    ]
    assert records[0]["extra"]["transfer"].startswith("sent ")
    assert records[2]["extra"]["transfer"].startswith("sent ")
    assert records[2]["extra"]["smoke"].startswith(f"GET {shipped.balancer.url}/health: 200")
    assert CANARY_SECRET not in audit.stdout


def test_maintenance_on_a_server_answers_503_under_keep_alive_load_and_off_serves_again(
    shipped: Shipped,
) -> None:
    ready = shipped.shipflow("deploy.prod", "--yes")  # the release the first test left, or a first one
    assert ready.returncode == 0, ready.stdout + ready.stderr
    serving = shipped.served_sha()
    url = shipped.balancer.url
    with LoadGenerator(
        f"{url}/", workers=4, keepalive_workers=4, write_share=0.2, max_seconds=180, pages_ok=True
    ) as load:
        time.sleep(0.5)
        on = shipped.shipflow(
            "deploy.maintenance", "--env", "production", "on", "--message", "Upgrading the database"
        )
        time.sleep(1.0)
        page = load.result.served_by[PAGE]
        down = fetch(f"{url}/")
        health = fetch(f"{url}/health")
        status = shipped.shipflow("deploy.status", "--env", "production")
        off = shipped.shipflow("deploy.maintenance", "--env", "production", "off")
        time.sleep(0.5)

    assert on.returncode == 0 and off.returncode == 0, on.stdout + on.stderr + off.stdout + off.stderr
    assert "no nginx reload" in on.stdout and "no nginx reload" in off.stdout
    assert down[0] == 503 and down[1]["Retry-After"] == "300" and "Upgrading the database" in down[2]
    assert health[0] == 200 and json.loads(health[2])["sha"] == serving
    assert "maintenance: ON since" in status.stdout
    result = load.result
    assert result.failed == 0, result.failures  # no connection error through the page and back
    assert page > 0 and result.served_by[serving] > 0
    assert fetch(f"{url}/")[0] == 200
    audit = shipped.shipflow("deploy.audit", "--env", "production", "--json", "-n", "2")
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    switched = [(r["action"], r["detail"][:3]) for r in records]
    assert switched == [("maintenance", "on:"), ("maintenance", "off")]
    for text in (on.stdout, off.stdout, status.stdout, audit.stdout):
        assert CANARY_SECRET not in text


def test_with_a_registry_the_build_is_pushed_from_here_and_pulled_by_the_server(
    shipped: Shipped, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with registry_on(shipped.server, tmp_path_factory.mktemp("registry") / "registry") as registry:
        settings = shipped.root / "deploy" / "deploy.toml"
        settings.write_text(settings.read_text() + f'registry = "{registry}/team"\n')
        sha = shipped.commit_and_push("releases go through a registry")
        remote = f"{registry}/team/{REPOSITORY}:{sha}"

        done = shipped.shipflow("deploy.prod", "--yes")

        assert done.returncode == 0, done.stdout + done.stderr
        assert f"docker push {remote}" in done.stdout
        assert re.search(r"^    \w+: Pushed$", done.stdout, re.MULTILINE), (
            done.stdout
        )  # progress, layer by layer
        assert re.search(rf"^    {sha}: digest: sha256:\w+ size: \d+$", done.stdout, re.MULTILINE)
        assert "streaming" not in done.stdout and "sent " not in done.stdout
        built_here = local_image_id(f"{REPOSITORY}:{sha}")
        assert built_here in shipped.server.image_ids()
        tags = shipped.server.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        assert f"{REPOSITORY}:{sha}" in tags and remote in tags  # pulled, and tagged under its own name
        tags_url = f"http://{registry}/v2/team/{REPOSITORY}/tags/list"
        with urllib.request.urlopen(tags_url, timeout=5) as listed:
            assert sha in json.loads(listed.read())["tags"]  # the registry holds the release
        assert shipped.served_sha() == sha
        audit = shipped.shipflow("deploy.audit", "--env", "production", "--json", "-n", "1")
        (record,) = [json.loads(line) for line in audit.stdout.splitlines()]
        assert record["to_sha"] == sha and record["extra"]["transfer"] == "pulled from the registry"

        again = shipped.shipflow("deploy.prod", "--yes")

        assert again.returncode == 0, again.stdout + again.stderr
        assert f"is on every host: nothing pushed to {registry}/team" in again.stdout
        assert "docker push" not in again.stdout and "docker pull" not in again.stdout
