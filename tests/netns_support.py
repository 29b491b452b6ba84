"""A second, isolated "server" on this machine: a network namespace of the test with its own docker engine,
sshd and nginx, reachable from here only through a veth pair on a private /30 (10.213.N.M+1 here,
10.213.N.M+2 there).

Several servers of one target share every setting (SSH port, slots, ``app_dir``, ``upstream_path``, the
nginx argv), so each server also has its own mount namespace in which its own folder is bind-mounted over
one common path (:attr:`NamespaceServer.root`, empty outside): the same path names a different file on
each server, as on real machines. sshd, nginx and dockerd all run in both namespaces of their server (the
engine must see the server's env files to mount them into containers). The server's docker CLI reaches
its engine through ``SetEnv DOCKER_HOST`` in its sshd_config. Nothing here contacts anything but these
addresses and 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ssh_support import (
    commit_on_main_and_push,
    production_toml,
    server_nginx_conf,
    sshd_config,
    write_project,
)

NETNS_DIR = Path("/run/netns")


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def _free_subnet() -> tuple[str, str]:
    """(this end, the namespace's end) of a 10.213.N.M/30 no interface here uses yet."""
    used = _run("ip", "-o", "-4", "addr", "show").stdout
    for _ in range(100):
        third, fourth = random.randrange(256), random.randrange(0, 256, 4)  # noqa: S311 (not crypto)
        prefix = f"10.213.{third}."
        if not any(f"{prefix}{fourth + offset}/" in used for offset in range(4)):
            return f"{prefix}{fourth + 1}", f"{prefix}{fourth + 2}"
    raise RuntimeError("no free 10.213.N.M/30 found")


def _wait(probe: str, ready: Callable[[], bool], seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise RuntimeError(f"{probe} not ready after {seconds} s; log {log}:\n{tail}")


@dataclass
class NamespaceServer:
    """One server: ``address`` is how this machine reaches it; ``root``, its own view of a common path."""

    netns: str
    folder: Path
    root: Path
    address: str
    host_end: str
    ssh_port: int
    nginx_port: int
    host_public: Path
    dockerd: subprocess.Popen[bytes] | None = None
    sshd: subprocess.Popen[bytes] | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.folder}/docker.sock"

    @property
    def files(self) -> Path:
        """What this server sees under :attr:`root`, read from outside."""
        return self.folder / "srv"

    @property
    def nginx_prefix(self) -> Path:
        """The nginx prefix as the server sees it (the same path on every server)."""
        return self.root / "nginx"

    @property
    def known_hosts_line(self) -> str:
        kind, key = self.host_public.read_text().split()[:2]
        return f"[{self.address}]:{self.ssh_port} {kind} {key}\n"

    @property
    def url(self) -> str:
        """This server's nginx through the veth address."""
        return f"http://{self.address}:{self.nginx_port}"

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The docker CLI against this server's engine."""
        return _run("docker", "-H", self.docker_host, *args, check=check)

    def image_ids(self) -> set[str]:
        return set(self.docker("image", "ls", "--all", "--no-trunc", "--format", "{{.ID}}").stdout.split())

    def served(self, path: str = "/") -> dict[str, object]:
        """The JSON this server's nginx answers at ``path``."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:  # noqa: S310 (veth address)
            return dict(json.loads(response.read()))

    def in_namespace(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the server's network namespace (e.g. curl its 127.0.0.1)."""
        return _run("ip", "netns", "exec", self.netns, *argv, check=False)

    def nginx_pid(self) -> int | None:
        path = self.files / "nginx" / "nginx.pid"
        text = path.read_text().strip() if path.exists() else ""
        return int(text) if text.isdigit() else None

    def stop_dockerd(self) -> None:
        """Stop this server's engine (its containers with it)."""
        if self.dockerd is not None and self.dockerd.poll() is None:
            running = self.docker("ps", "--all", "--quiet", check=False).stdout.split()
            if running:
                self.docker("rm", "--force", *running, check=False)
            self.dockerd.send_signal(signal.SIGTERM)
            try:
                self.dockerd.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.dockerd.kill()
                self.dockerd.wait(timeout=10)

    def start_dockerd(self) -> None:
        """Start (or restart) this server's engine in its namespaces (it mounts the env files of the server's
        ``root``): overlay2, else vfs."""
        assert self.sshd is not None, "sshd first: the engine joins its namespaces"
        log = self.folder / "dockerd.log"
        for driver in ("overlay2", "vfs"):
            self.dockerd = subprocess.Popen(
                [
                    "nsenter",
                    f"--target={self.sshd.pid}",
                    "--net",
                    "--mount",
                    "dockerd",
                    f"--data-root={self.folder}/docker-data",
                    f"--exec-root={self.folder}/docker-exec",
                    f"--pidfile={self.folder}/docker.pid",
                    f"--host={self.docker_host}",
                    f"--storage-driver={driver}",
                    "--log-level=warn",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log.open("ab"),
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.dockerd.poll() is None:
                if self.docker("info", "--format", "{{.Driver}}", check=False).returncode == 0:
                    return
                time.sleep(0.2)
            self.stop_dockerd()
        raise RuntimeError(f"dockerd in {self.netns} did not answer; see {log}")

    def tear_down(self) -> None:
        """Kill every process of the server, delete the namespace and its files. Best effort, every step."""
        with contextlib.suppress(Exception):
            self.stop_dockerd()
        pid = self.nginx_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if self.sshd is not None and self.sshd.poll() is None:
            self.sshd.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.sshd.wait(timeout=10)
        # Whatever still lives in the namespace (ssh sessions, nginx workers, docker-proxy): gone now.
        for _ in range(50):
            pids = _run("ip", "netns", "pids", self.netns, check=False).stdout.split()
            if not pids:
                break
            for text in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(text), signal.SIGKILL)
            time.sleep(0.1)
        for process in (self.dockerd, self.sshd):
            if process is not None and process.poll() is None:
                process.kill()
            if process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
        _run("ip", "link", "del", self.host_end, check=False)
        _run("ip", "netns", "del", self.netns, check=False)
        for mount in reversed(_mounts_under(self.folder)):
            _run("umount", "--lazy", mount, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _mounts_under(folder: Path) -> list[str]:
    prefix = f"{folder}/"
    return [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(prefix)
    ]


def _nginx_conf(server: NamespaceServer, upstream: Path) -> str:
    app = upstream.stem.removesuffix("_upstream")
    return server_nginx_conf(server.nginx_prefix, upstream, app, listen=str(server.nginx_port))


def _sshd_config(server: NamespaceServer) -> str:
    # Every ssh session's docker CLI talks to this server's own engine.
    extra = f"SetEnv DOCKER_HOST={server.docker_host}\n"
    return sshd_config(server.folder, server.ssh_port, server.address, extra=extra)


@contextlib.contextmanager
def namespace_server(
    folder: Path, root: Path, *, user_public_key: Path, ssh_port: int, nginx_port: int, app: str
) -> Iterator[NamespaceServer]:
    """A running server (engine, sshd on ``address:ssh_port``, nginx on ``nginx_port`` whose site includes
    ``root/conf.d/<app>_upstream.conf``); everything is gone after the ``with``."""
    tag = uuid.uuid4().hex[:8]
    here, there = _free_subnet()
    folder.mkdir(parents=True)
    server = NamespaceServer(
        netns=f"sf-{tag}",
        folder=folder,
        root=root,
        address=there,
        host_end=f"sf{tag}h",
        ssh_port=ssh_port,
        nginx_port=nginx_port,
        host_public=folder / "host_ed25519.pub",
    )
    try:
        _run("ip", "netns", "add", server.netns)
        _run("ip", "link", "add", server.host_end, "type", "veth", "peer", "name", f"sf{tag}n")
        _run("ip", "link", "set", f"sf{tag}n", "netns", server.netns)
        _run("ip", "addr", "add", f"{here}/30", "dev", server.host_end)
        _run("ip", "link", "set", server.host_end, "up")
        inside = ("ip", "netns", "exec", server.netns, "ip")
        _run(*inside, "addr", "add", f"{there}/30", "dev", f"sf{tag}n")
        _run(*inside, "link", "set", f"sf{tag}n", "up")
        _run(*inside, "link", "set", "lo", "up")

        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_ed25519"))
        shutil.copy(user_public_key, folder / "authorized_keys")
        (folder / "sshd_config").write_text(_sshd_config(server))
        upstream = root / "conf.d" / f"{app}_upstream.conf"
        nginx_dir = server.files / "nginx"
        (server.files / "conf.d").mkdir(parents=True)
        for sub in ("logs", "spool"):
            (nginx_dir / sub).mkdir(parents=True)
        (server.files / "conf.d" / upstream.name).write_text(
            f"upstream {app}_backend {{\n    server 127.0.0.1:1;\n}}\n"
        )
        (nginx_dir / "nginx.conf").write_text(_nginx_conf(server, upstream))
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        # Its own mount namespace: ``root`` shows this server's files; nginx and sshd (so every ssh session)
        # live in it. The shell becomes sshd; nginx daemonizes and stays in the namespaces.
        script = (
            f"set -e; mount --bind {server.files} {root}; "
            f"nginx -p {server.nginx_prefix} -c {server.nginx_prefix}/nginx.conf; "
            f"exec {shutil.which('sshd') or '/usr/sbin/sshd'} -D -e -f {folder}/sshd_config"
        )
        server.sshd = subprocess.Popen(
            [
                "nsenter",
                f"--net={NETNS_DIR / server.netns}",
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
            ],
            stdout=subprocess.DEVNULL,
            stderr=(folder / "sshd.log").open("wb"),
        )

        _wait(f"sshd on {there}:{ssh_port}", lambda: _probe(there, ssh_port) and _probe(there, nginx_port),
              30, folder / "sshd.log")  # fmt: skip
        server.start_dockerd()
        yield server
    finally:
        server.tear_down()


def _probe(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((address, port)) == 0


def make_namespace_project(
    root: Path,
    folder: Path,
    servers: list[NamespaceServer],
    *,
    app: str,
    repository: str,
    public_url: str,
    pyproject_extra: str = "",
    deploy_extra: str = "",
    switch: str | None = None,
) -> None:
    """A project on main, pushed to a bare origin, whose production target is ``servers`` (``switch``: how
    traffic moves there; unset, the NAT switch, as the servers run as root).

    They share every setting (as servers of one target do); ``folder/user_ed25519`` is the deployer's key.
    """
    known_hosts = folder / "known_hosts"
    known_hosts.write_text("".join(server.known_hosts_line for server in servers))
    first = servers[0]
    target = production_toml(
        app=app,
        hosts=[server.address for server in servers],
        port=first.ssh_port,
        identity_file=folder / "user_ed25519",
        known_hosts=known_hosts,
        app_dir=first.root / "app",
        slots=(18080, 18081),
        upstream_path=first.root / "conf.d" / f"{app}_upstream.conf",
        nginx_argv=["nginx", "-p", str(first.nginx_prefix), "-c", f"{first.nginx_prefix}/nginx.conf"],
        nginx_pid_file=first.nginx_prefix / "nginx.pid",
        public_url=public_url,
        top_level=deploy_extra,
        switch=switch,
    )
    write_project(root, repository, target, pyproject_extra=pyproject_extra)
    commit_on_main_and_push(root, folder / "origin.git", f"a project deployed to {len(servers)} server(s)")
