"""A production deploy to SEVERAL servers, for real: two servers, each a network namespace of the test with
its own docker engine, sshd and nginx (tests/netns_support.py), reached over veth addresses.

The target's settings are shared by both hosts (port, slots, app_dir, upstream_path, nginx argv), as on
real servers; ``public_url`` is a load balancer on this machine's 127.0.0.1 in front of both servers'
nginx (the smoke check goes there), while the check through each server's nginx runs on that server.
The releases are given as ``docker save`` files (``--image-archive``): each server's engine starts empty,
so every image really travels over SSH into it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploy_support import CANARY_SECRET, base_image, build_release
from netns_support import NamespaceServer, make_namespace_project, namespace_server
from ssh_support import PRODUCTION_ENV, ServerNginx, keygen, start_nginx
from support import run_shipflow, user_environ

pytestmark = [pytest.mark.ssh, pytest.mark.e2e, pytest.mark.needs("sshd", "docker", "nginx", "git")]

REPOSITORY = f"shipflow-fleet-{uuid.uuid4().hex[:6]}"
APP = f"sffleet-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Archive:
    path: Path
    sha: str
    image_id: str

    @property
    def short(self) -> str:
        return self.sha[:12]


@dataclass
class Fleet:
    """Two servers behind a load balancer, and a project whose production target lists both."""

    root: Path
    a: NamespaceServer
    b: NamespaceServer
    balancer: ServerNginx

    def shipflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_shipflow(*args, cwd=self.root, env=user_environ(PROD_ENV_FILE=PRODUCTION_ENV))

    def ship(self, archive: Archive, *args: str) -> subprocess.CompletedProcess[str]:
        return self.shipflow("deploy.prod", "--yes", "--image-archive", str(archive.path), *args)


def host_name(server: NamespaceServer) -> str:
    return f"root@{server.address}:{server.ssh_port}"


def served_sha(server: NamespaceServer) -> str:
    return str(server.served("/")["sha"])


def image_id_of(archive: Path) -> str:
    """The image id a `docker save` file holds (its config blob's digest)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        config = json.loads(member.read())[0]["Config"]
    return "sha256:" + Path(config).name.removesuffix(".json")


def host_section(output: str, server: NamespaceServer) -> str:
    """What a one-at-a-time deploy printed for ``server`` (from its ``deploying ...`` line to the next)."""
    start = output.index(f"({host_name(server)})\n")
    end = output.find("\ndeploying ", start)
    return output[start : end if end >= 0 else len(output)]


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Archive]]:
    """Releases v1..v3 as `docker save` files; this machine's engine no longer has them."""
    folder = tmp_path_factory.mktemp("archives")
    base = base_image()
    made: dict[str, Archive] = {}
    for name in ("v1", "v2", "v3"):
        release = build_release(REPOSITORY, name, base)
        path = folder / f"{name}.tar"
        subprocess.run(["docker", "save", "-o", str(path), release.image], check=True)
        subprocess.run(["docker", "rmi", release.image], capture_output=True, check=True)
        made[name] = Archive(path, release.sha, image_id_of(path))
    yield made
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("fleet")
    keygen(folder / "user_ed25519")
    common = folder / "srv"  # each server sees its own files here; empty on this machine
    common.mkdir()
    balancer = start_nginx(folder / "balancer", APP)
    ssh_port = balancer.port + 1 if balancer.port < 65535 else balancer.port - 1
    try:
        with (
            namespace_server(
                folder / "a", common, user_public_key=folder / "user_ed25519.pub",
                ssh_port=ssh_port, nginx_port=balancer.port, app=APP,
            ) as a,
            namespace_server(
                folder / "b", common, user_public_key=folder / "user_ed25519.pub",
                ssh_port=ssh_port, nginx_port=balancer.port, app=APP,
            ) as b,
        ):  # fmt: skip
            servers = "".join(f"    server {s.address}:{balancer.port};\n" for s in (a, b))
            balancer.upstream_path.write_text(f"upstream {APP}_backend {{\n{servers}}}\n")
            subprocess.run([*balancer.argv, "-s", "reload"], check=True, capture_output=True)
            root = folder / "project"
            # The reload switch: a server whose nginx config breaks must refuse its switch (`nginx -t`),
            # which is the failure this rollout stops at. The NAT switch never touches nginx; the other
            # server tests (test_deploy_ssh_head.py) deploy with it.
            make_namespace_project(
                root, folder, [a, b], app=APP, repository=REPOSITORY, public_url=balancer.url,
                switch="reload",
            )  # fmt: skip
            yield Fleet(root, a, b, balancer)
    finally:
        balancer.stop()


def test_a_deploy_to_two_servers_sends_the_image_to_each_stops_at_a_failure_and_rolls_back_on_both(
    fleet: Fleet, archives: dict[str, Archive]
) -> None:
    v1, v2, v3 = archives["v1"], archives["v2"], archives["v3"]
    a, b = fleet.a, fleet.b
    assert v1.image_id not in b.image_ids() and v1.image_id not in a.image_ids()

    first = fleet.ship(v1)

    out = first.stdout
    assert first.returncode == 0, out + first.stderr
    assert "plan: deploy to production, 2 host(s), one at a time:" in out
    assert f"  {host_name(a)}: nothing -> v1 ({v1.short})" in out
    assert f"  {host_name(b)}: nothing -> v1 ({v1.short})" in out
    on_b = host_section(out, b)
    assert f"is not on {host_name(b)}: streaming it over ssh" in on_b
    assert re.search(r"sent [\d.]+ [KMG]?B \(gzip of [\d.]+ [KMG]?B\)", on_b), on_b
    assert v1.image_id in b.image_ids() and v1.image_id in a.image_ids()
    assert served_sha(a) == v1.sha and served_sha(b) == v1.sha
    assert "production: what each host serves now:" in out
    assert f"  {host_name(a)}: deployed v1 ({v1.short})" in out
    assert f"  {host_name(b)}: deployed v1 ({v1.short})" in out
    assert CANARY_SECRET not in out + first.stderr
    # Each server has its own state under the same app_dir; this machine's view of that path stays empty.
    assert (a.files / "app" / ".shipflow" / "env").is_dir() and (
        b.files / "app" / ".shipflow" / "env"
    ).is_dir()
    assert not (a.root / "app").exists()

    both = fleet.ship(v2, "--parallel", "2")

    assert both.returncode == 0, both.stdout + both.stderr
    assert "2 host(s), 2 at a time:" in both.stdout
    assert both.stdout.count("streaming it over ssh") == 2
    assert served_sha(a) == v2.sha and served_sha(b) == v2.sha
    assert v2.image_id in b.image_ids()

    # Server B's nginx config breaks: `nginx -t` fails there, so its switch is refused.
    config = b.files / "nginx" / "nginx.conf"
    good = config.read_text()
    config.write_text(good + "this is not an nginx directive;\n")
    upstream_of_b = (b.files / "conf.d" / f"{APP}_upstream.conf").read_text()

    failed = fleet.ship(v3)

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"  {host_name(a)}: deployed v3 ({v3.short})" in failed.stdout
    assert f"  {host_name(b)}: FAILED; serves v2 ({v2.short})" in failed.stdout
    assert f"deploy failed: {host_name(b)}: nginx rejected the new upstream" in failed.stderr
    assert 'unknown directive "this"' in failed.stderr
    assert (b.files / "conf.d" / f"{APP}_upstream.conf").read_text() == upstream_of_b
    assert served_sha(a) == v3.sha  # A keeps the new release
    assert served_sha(b) == v2.sha  # B's nginx never switched

    # Undo the partial rollout: A goes back to its kept v2; B, whose deploy never switched, stays on v2.
    undone = fleet.shipflow("deploy.rollback", "--env", "production")

    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert f"  {host_name(a)}: rolled back to v2 ({v2.short})" in undone.stdout
    assert "the last deploy here failed before switching" in undone.stdout
    assert served_sha(a) == v2.sha and served_sha(b) == v2.sha

    config.write_text(good)
    again = fleet.ship(v3)

    assert again.returncode == 0, again.stdout + again.stderr
    assert f"  {host_name(a)}: deployed v3 ({v3.short})" in again.stdout

    assert f"  {host_name(b)}: deployed v3 ({v3.short})" in again.stdout
    assert f"is already on {host_name(b)}: nothing sent" in again.stdout
    assert served_sha(a) == v3.sha and served_sha(b) == v3.sha

    back = fleet.shipflow("deploy.rollback", "--env", "production")

    assert back.returncode == 0, back.stdout + back.stderr
    assert f"  {host_name(a)}: rolled back to v2 ({v2.short})" in back.stdout
    assert f"  {host_name(b)}: rolled back to v2 ({v2.short})" in back.stdout
    assert served_sha(a) == v2.sha and served_sha(b) == v2.sha
    inside = b.in_namespace("curl", "--silent", f"http://127.0.0.1:{b.nginx_port}/")
    assert json.loads(inside.stdout)["sha"] == v2.sha
