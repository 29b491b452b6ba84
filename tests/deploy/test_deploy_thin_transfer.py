"""The image goes to a server without the layers it already holds: ``inv deploy.prod`` builds HEAD here and
streams ``docker save`` of it, minus the ``layer.tar`` of every layer the server's engine has, into
``gunzip | docker load`` there.

The server is a network namespace with its own docker engine (tests/netns_support.py): empty at first, so
the first deploy sends the whole image; a commit that changes only code then sends only the code's layers.
An engine that refuses a thin archive gets the whole one, once.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from deploy_support import base_image, build_release
from shipped_support import Shipped, example_service_shipped, local_image_id

from shipflow.deploy import commands, transfer
from shipflow.hosts import LocalHost
from shipflow.hosts.base import CommandResult
from shipflow.hosts.ssh import SshHost, SshTarget
from shipflow.report import Reporter

pytestmark = [pytest.mark.ssh, pytest.mark.docker, pytest.mark.needs("sshd", "docker", "nginx", "git")]

REPOSITORY = f"shipflow-thin-{uuid.uuid4().hex[:6]}"
APP = f"sfthin-{uuid.uuid4().hex[:8]}"
SENT = re.compile(
    r"sent (?P<sent>[\d.]+ [KMG]?B) \(gzip of (?P<raw>[\d.]+ [KMG]?B)"
    r"(?:; (?P<held>[\d.]+ [KMG]?B) already on the server)?\) in [\d.]+s, [\d.]+ [KMG]?B/s"
)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shipped]:
    with example_service_shipped(tmp_path_factory.mktemp("thin"), app=APP, repository=REPOSITORY) as made:
        yield made


def deploy(shipped: Shipped) -> tuple[str, re.Match[str] | None]:
    done = shipped.shipflow("deploy.prod", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, SENT.search(done.stdout)


def last_record(shipped: Shipped) -> dict[str, Any]:
    """The ``extra`` of the last audit record on the server."""
    audit = shipped.shipflow("deploy.audit", "--env", "production", "--json", "-n", "1")
    (record,) = [json.loads(line) for line in audit.stdout.splitlines()]
    return dict(record["extra"])


def test_the_first_deploy_sends_the_whole_image_to_an_empty_server(shipped: Shipped) -> None:
    assert shipped.server.image_ids() == set()
    sha = shipped.head()

    out, sent = deploy(shipped)

    assert f"is not on {shipped.host}: streaming it over ssh" in out
    assert sent and sent["held"] is None, out  # nothing held: the whole archive
    print(f"first deploy, empty server: {sent.group(0)}")
    assert local_image_id(f"{REPOSITORY}:{sha}") in shipped.server.image_ids()
    assert shipped.served_sha() == sha
    extra = last_record(shipped)
    assert "transfer_skipped_bytes" not in extra and int(extra["transfer_bytes"]) > 10_000_000


def test_a_code_only_commit_sends_under_a_megabyte_and_the_server_loads_the_same_image(
    shipped: Shipped,
) -> None:
    deploy(shipped)  # the release the first test left, or a first one
    server_file = shipped.root / "examples" / "service" / "app" / "server.py"
    server_file.write_text(server_file.read_text() + "\n# a code-only change\n")
    sha = shipped.commit_and_push("a code-only change")

    out, sent = deploy(shipped)

    assert sent and sent["held"] is not None, out
    print(f"code-only commit: {sent.group(0)}")  # the figure the report quotes
    extra = last_record(shipped)
    sent_bytes, skipped_bytes = int(extra["transfer_bytes"]), int(extra["transfer_skipped_bytes"])
    print(f"code-only commit: {sent_bytes} bytes sent, {skipped_bytes} bytes of layers already on the server")
    assert sent_bytes < 1_000_000 and skipped_bytes > 100_000_000
    assert "refused" not in out
    assert local_image_id(f"{REPOSITORY}:{sha}") in shipped.server.image_ids()
    assert shipped.served_sha() == sha  # the loaded image runs: its layers are the right ones


class ClaimsEveryLayer(SshHost):
    """The namespace server, except that it claims to hold every one of ``claimed``'s layers."""

    def __init__(self, target: SshTarget, claimed: Sequence[str]) -> None:
        super().__init__(target)
        self.claimed = list(claimed)

    def query(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandResult:
        if list(argv) == commands.held_layers():
            claim = {"id": "sha256:" + "0" * 64, "layers": self.claimed}
            return CommandResult(tuple(argv), 0, json.dumps(claim) + "\n", "")
        return super().query(argv, timeout=timeout)


def test_an_engine_refusing_the_thin_archive_gets_the_whole_image_once(shipped: Shipped) -> None:
    release = build_release(REPOSITORY, "fallback", base_image())  # layers the server lacks on top
    image = transfer.engine_image(LocalHost(), release.image)
    folder: Path = shipped.folder
    target = SshTarget(
        host=shipped.server.address,
        port=shipped.server.ssh_port,
        user="root",
        identity_file=str(folder / "user_ed25519"),
        known_hosts=str(folder / "known_hosts"),
    )
    host = ClaimsEveryLayer(target, image.diff_ids)
    out = io.StringIO()
    try:
        result = transfer.ensure_image(host, image, Reporter(stream=out))
    finally:
        host.close()

    lines = out.getvalue().splitlines()
    refusals = [line for line in lines if "docker load refused" in line]
    assert len(refusals) == 1, lines
    assert refusals[0].endswith(": sending the whole image")
    print(refusals[0])
    sent = SENT.search(lines[-1])
    assert sent and sent["held"] is None, lines
    assert result.sent and result.skipped_bytes == 0
    assert image.image_id in shipped.server.image_ids()
