"""The maintenance page's responder on a host (:mod:`shipflow.deploy.responder` says what it is): serve a
page (start the responder, or reload it with a new config), and stop it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from shipflow.deploy import commands, proxy, responder
from shipflow.hosts.base import HostError

if TYPE_CHECKING:
    from shipflow.deploy.responder import MaintenanceRecord
    from shipflow.deploy.settings import DeploySettings, TargetSettings
    from shipflow.hosts.base import Host

READY_SECONDS = 5.0


class PageFailed(HostError):
    """The responder could not be started or did not answer; traffic still goes where it went."""


def running(host: Host, target: TargetSettings) -> bool:
    return proxy.running_pid(host, responder.pid_file(target)) is not None


def serve(host: Host, settings: DeploySettings, target: TargetSettings, record: MaintenanceRecord) -> None:
    """Write the responder's config for ``record`` and start it (or reload it when it runs), then wait
    until it answers. A config nginx rejects changes nothing that serves."""
    home = responder.folder(target)
    conf = f"{home}/nginx.conf"
    previous = host.read_file(conf)
    host.run(commands.make_folders(*responder.spool_folders(target))).check(host.name)
    host.write_file(conf, responder.config(settings, target, record).encode())
    tested = host.run(responder.test_config(target))
    if not tested.ok:
        if previous is not None:
            host.write_file(conf, previous)
        detail = (tested.stderr or tested.stdout).strip()
        raise PageFailed(f"{host.name}: nginx rejected the maintenance page's config {conf}:\n{detail}")
    was_running = running(host, target)
    started = host.run(responder.reload(target) if was_running else responder.start(target))
    if not started.ok:
        detail = (started.stderr or started.stdout).strip()
        raise PageFailed(
            f"{host.name}: the maintenance page's nginx did not start on 127.0.0.1:{target.maintenance_port} "
            f"(is the port free? set maintenance_port in [targets.{target.name}]):\n{detail}"
        )
    if not host.rehearses:
        _wait_until_it_answers(host, target)


def _wait_until_it_answers(host: Host, target: TargetSettings) -> None:
    url = f"http://127.0.0.1:{target.maintenance_port}/"
    deadline = time.monotonic() + READY_SECONDS
    status = 0
    while time.monotonic() < deadline:
        status, _ = commands.parse_probe(host.query(commands.http_probe(url, 1.0)).stdout)
        if status == 503:
            return
        time.sleep(0.05)
    raise PageFailed(
        f"{host.name}: the maintenance page on {url} answered {status or 'nothing'} instead of 503 within "
        f"{READY_SECONDS:g} s; see {responder.folder(target)}/error.log"
    )


def stop(host: Host, target: TargetSettings) -> bool:
    """Stop the responder gracefully (requests in flight finish); False when it was not running."""
    if not running(host, target):
        return False
    host.run(responder.stop(target)).check(host.name)
    return True
