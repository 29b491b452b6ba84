"""nginx in front of the slots: write its upstream include, test, reload, and drain old workers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.deploy import commands, traffic_log
from shipflow.hosts.base import HostError

if TYPE_CHECKING:
    from shipflow.deploy.context import Deployment
    from shipflow.deploy.settings import DeploySettings, TargetSettings
    from shipflow.hosts.base import Host


class SwitchFailed(HostError):
    """nginx refused the new upstream; the previous file is back in place."""


@dataclass(frozen=True)
class Switched:
    """A done switch: the upstream text it replaced, and the workers that served before the reload."""

    previous_text: str | None
    old_workers: tuple[int, ...]


def master_pid(host: Host, target: TargetSettings) -> int | None:
    """The running nginx master's pid, from its pid file, if that process is alive."""
    return running_pid(host, target.nginx_pid_file)


def running_pid(host: Host, pid_file: str) -> int | None:
    """The pid in ``pid_file`` on ``host``, if that process is alive."""
    raw = host.read_file(pid_file)
    text = raw.decode().strip() if raw else ""
    if not text.isdigit():
        return None
    return int(text) if host.query(commands.process_alive(text)).ok else None


def workers(host: Host, master: int) -> tuple[int, ...]:
    result = host.query(commands.worker_pids(master))
    return tuple(int(pid) for pid in result.stdout.split() if pid.isdigit())


def ensure_local_config(host: Host, settings: DeploySettings, target: TargetSettings) -> None:
    """Write shipflow's own nginx.conf for the local target (and its spool folders) when it differs."""
    prefix = f"{target.state_dir}/nginx"
    wanted = commands.local_nginx_conf(settings, target).encode()
    if host.read_file(f"{prefix}/nginx.conf") != wanted:
        host.write_file(f"{prefix}/nginx.conf", wanted)
    host.run(commands.make_folders(f"{prefix}/spool", f"{prefix}/logs")).check(host.name)


def upstream_text(settings: DeploySettings, target: TargetSettings, port: int) -> str:
    """The upstream include routing the app to ``127.0.0.1:port``, from the project's template, followed by
    shipflow's log of the app's requests (what a bake window reads)."""
    template = settings.upstream_template.read_text(encoding="utf-8")
    routing = commands.upstream_conf(template, settings, port, source=str(settings.upstream_template))
    return routing.rstrip("\n") + "\n\n" + traffic_log.log_conf(settings, target)


def weighted_text(
    settings: DeploySettings, target: TargetSettings, new_port: int, old_port: int, percent: int
) -> str:
    """The include sending ``percent`` % of requests to ``new_port`` by nginx's weights (a canary step under
    ``switch = "reload"``); the old slot's line comes first, so the include still names it as the live one."""
    text = upstream_text(settings, target, old_port)
    line = f"server 127.0.0.1:{old_port};"
    weighted = (
        f"server 127.0.0.1:{old_port} weight={100 - percent};\n"
        f"    server 127.0.0.1:{new_port} weight={percent};"
    )
    return text.replace(line, weighted, 1)


def switch(host: Host, settings: DeploySettings, target: TargetSettings, slot: commands.Slot) -> Switched:
    """Route the app to ``slot``: write the upstream file, ``nginx -t``, then reload (or start, locally)."""
    text = upstream_text(settings, target, slot.port).encode()
    return write_upstream(host, settings, target, text, host.read_file(target.upstream_path))


def write_upstream(
    host: Host, settings: DeploySettings, target: TargetSettings, text: bytes, previous: bytes | None
) -> Switched:
    """Write the upstream include, ``nginx -t``, then reload nginx (or start the local one).

    When ``nginx -t`` fails the previous upstream file is restored and nginx is not reloaded.
    """
    if target.is_local:
        ensure_local_config(host, settings, target)
    host.write_file(target.upstream_path, text)
    tested = host.run(list(target.nginx_test))
    if not tested.ok:
        if previous is None:
            host.run(commands.remove_file(target.upstream_path)).check(host.name)
        else:
            host.write_file(target.upstream_path, previous)
        detail = (tested.stderr or tested.stdout).strip()
        raise SwitchFailed(
            f"{host.name}: nginx rejected the new upstream ({settings.upstream_template}); "
            f"the previous file is restored and nginx still routes as before.\n{detail}"
        )
    master = master_pid(host, target)
    if master is None and target.is_local:
        host.run(commands.nginx_start(target)).check(host.name)
        return Switched(previous.decode() if previous else None, ())
    old_workers = workers(host, master) if master else ()
    host.run(list(target.nginx_reload)).check(host.name)
    return Switched(previous.decode() if previous else None, old_workers)


def drain(host: Host, old_workers: tuple[int, ...], timeout: float) -> bool:
    """Wait until nginx's pre-reload workers have finished their requests and exited; False on timeout."""
    deadline = time.monotonic() + timeout
    while old_workers:
        if not host.query(commands.pids_alive(list(old_workers))).stdout.strip():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stop_local(host: Host, target: TargetSettings) -> bool:
    """Stop shipflow's own nginx for a local target; False when it was not running."""
    if master_pid(host, target) is None:
        return False
    host.run(commands.nginx_stop(target)).check(host.name)
    return True


def local_proxy_line(d: Deployment, *, stop: bool) -> str:
    """``deploy.proxy``: where shipflow's local nginx runs, or stop it."""
    if stop:
        return (
            "stopped the local nginx" if stop_local(d.host, d.target) else "the local nginx was not running"
        )
    master = master_pid(d.host, d.target)
    return (
        f"local nginx: running (pid {master}) on {d.target.public_url}"
        if master
        else "local nginx: not running"
    )
