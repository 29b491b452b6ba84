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
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from deploy_support import CANARY_SECRET, fetch
from registry_support import registry_on
from shipped_support import Shipped, example_service_shipped, local_image_id

from shipflow.testing.loadgen import KEEPALIVE, PAGE, LoadGenerator

pytestmark = [
    pytest.mark.ssh,
    pytest.mark.e2e,
    pytest.mark.needs("sshd", "docker", "nginx", "git", "registry"),
]

REPOSITORY = f"shipflow-head-{uuid.uuid4().hex[:6]}"
APP = f"sfhead-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shipped]:
    with example_service_shipped(tmp_path_factory.mktemp("head"), app=APP, repository=REPOSITORY) as made:
        yield made


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
    # The revision the live release recorded when it went live, said as such, and nothing pending:
    pending = f"  migrations pending on {shipped.host} (database at 0003, as recorded when the live release"
    assert pending in again.stdout and "none (the release's head is 0003 too)" in again.stdout
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
        time.sleep(1.5)  # nginx's pooled connections to the slot serve at most one more request, within 1 s
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
    logs = [shipped.server.files / "nginx" / "error.log", shipped.balancer.prefix / "error.log"]
    errors = "\n".join(path.read_text(errors="replace")[-3000:] for path in logs if path.exists())
    assert result.failed == 0, (result.failures, on.stdout, off.stdout, errors)  # no error on the way
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
