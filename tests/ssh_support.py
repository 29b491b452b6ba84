"""A real server for SSH deploy tests, on this machine: an ``sshd`` on a free 127.0.0.1 port with generated
host and user keys, an nginx of its own whose site includes the target's upstream file, and a project
(a git repository with a bare ``origin``) whose production target points at them.

The "server" is this machine as root, so it shares the docker engine with the deployer; see
test_deploy_ssh.py for how the image transfer is still made real.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from deploy_support import CANARY_SECRET, free_port
from support import REPO, run_shipflow
from support import git as git  # also imported from here by the SSH deploy tests

PRODUCTION_ENV = f"""\
ENV=production
DEBUG=false
LOG_LEVEL=INFO
CORS_ORIGINS=https://app.example.invalid
DATABASE_URL=sqlite:////data/app.db
SECRET_KEY={CANARY_SECRET}-0123456789abcdef
"""


def _run(*argv: str, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr}")
    return done.stdout


def keygen(path: Path) -> None:
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "shipflow-test", "-f", str(path))


def fingerprint_of(public_key: Path) -> str:
    """``SHA256:...`` as ssh-keygen prints it."""
    return _run("ssh-keygen", "-l", "-f", str(public_key)).split()[1]


def wait_for_port(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


@dataclass
class Sshd:
    """A running sshd; ``known_hosts_line`` is the line a client that trusts it has."""

    folder: Path
    port: int
    user_key: Path
    host_public: Path
    process: subprocess.Popen[bytes]

    @property
    def known_hosts_line(self) -> str:
        kind, key = self.host_public.read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}\n"

    def logins(self) -> int:
        """How many SSH connections have authenticated so far (sshd logs one line each)."""
        return (self.folder / "sshd.log").read_text(errors="replace").count("Accepted publickey")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def sshd_config(folder: Path, port: int, address: str, *, extra: str = "") -> str:
    """A test server's sshd: key-only, root by key, SFTP on; its keys and pid file live in ``folder``."""
    return f"""\
Port {port}
ListenAddress {address}
HostKey {folder}/host_ed25519
PidFile {folder}/sshd.pid
AuthorizedKeysFile {folder}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 50:30:100
MaxSessions 50
Subsystem sftp internal-sftp
{extra}LogLevel INFO
"""


def start_sshd(folder: Path) -> Sshd:
    """sshd -D on a free port, key-only, root allowed by key, SFTP on."""
    folder.mkdir(parents=True)
    keygen(folder / "host_ed25519")
    keygen(folder / "user_ed25519")
    shutil.copy(folder / "user_ed25519.pub", folder / "authorized_keys")
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(sshd_config(folder, port, "127.0.0.1"))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "sshd.log").open("wb"),
    )
    wait_for_port(port)
    return Sshd(folder, port, folder / "user_ed25519", folder / "host_ed25519.pub", process)


@dataclass(frozen=True)
class ServerNginx:
    """The server's nginx: its own prefix, a site on a free port including the target's upstream file."""

    prefix: Path
    port: int
    upstream_path: Path

    @property
    def argv(self) -> list[str]:
        return ["nginx", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        subprocess.run([*self.argv, "-s", "quit"], capture_output=True, check=False)


def server_nginx_conf(prefix: Path, upstream: Path, app: str, *, listen: str) -> str:
    """A server's own nginx (not one shipflow writes): it includes the upstream file a deploy switches."""
    return f"""\
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/spool/body;
    proxy_temp_path {prefix}/spool/proxy;
    fastcgi_temp_path {prefix}/spool/fastcgi;
    uwsgi_temp_path {prefix}/spool/uwsgi;
    scgi_temp_path {prefix}/spool/scgi;
    include {upstream};
    server {{
        listen {listen};
        location / {{
            proxy_pass http://{app}_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            add_header X-Shipflow-Upstream $upstream_addr always;
        }}
    }}
}}
"""


def start_nginx(prefix: Path, app: str) -> ServerNginx:
    """nginx as a prepared server runs it: the upstream include exists (routing nowhere yet)."""
    port = free_port()
    upstream = prefix / "conf.d" / f"{app}_upstream.conf"
    upstream.parent.mkdir(parents=True)
    for folder in ("logs", "spool"):
        (prefix / folder).mkdir()
    upstream.write_text(f"upstream {app}_backend {{\n    server 127.0.0.1:1;\n}}\n")
    (prefix / "nginx.conf").write_text(server_nginx_conf(prefix, upstream, app, listen=f"127.0.0.1:{port}"))
    nginx = ServerNginx(prefix, port, upstream)
    _run(*nginx.argv)
    wait_for_port(port)
    return nginx


@dataclass
class RemoteProject:
    """A project whose production target is the test server, in a git repo on main pushed to origin."""

    root: Path
    app: str
    sshd: Sshd
    nginx: ServerNginx
    known_hosts: Path
    app_dir: Path
    slots: tuple[int, int]

    def shipflow(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PROD_ENV_FILE": PRODUCTION_ENV, **extra_env}
        return run_shipflow(*args, cwd=self.root, env=env)

    def containers(self) -> list[str]:
        return _run(
            "docker", "ps", "--all", "--filter", f"label=shipflow.app={self.app}", "--format", "{{.Names}}"
        ).split()

    def commit(self, message: str) -> None:
        git(self.root, "add", "--all")
        git(self.root, "commit", "--quiet", "-m", message)

    def tear_down(self) -> None:
        """Remove the app's containers and the NAT chains its targets' switches made on this machine (the
        server shares this machine's network, so a chain left behind would keep redirecting its port)."""
        names = self.containers()
        if names:
            subprocess.run(["docker", "rm", "--force", *names], capture_output=True, check=False)
        remove_nat_chains(self.app)


def remove_nat_chains(app: str) -> None:
    """Delete every chain of shipflow's NAT table that belongs to ``app`` (one per target)."""
    listed = subprocess.run(["nft", "list", "table", "ip", "shipflow"], capture_output=True, text=True)
    prefix = "sf_" + re.sub(r"[^A-Za-z0-9_]", "_", app) + "_"
    for line in listed.stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "chain" and words[1].startswith(prefix):
            subprocess.run(["nft", "delete", "chain", "ip", "shipflow", words[1]], check=False)


def write_project(root: Path, repository: str, target_toml: str, *, pyproject_extra: str = "") -> None:
    """A project folder: pyproject's build image and branch model, the upstream template, deploy.toml."""
    (root / "deploy" / "nginx").mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "nginx" / "upstream.conf.tmpl", root / "deploy" / "nginx")
    build = f'[tool.shipflow.build]\nimage = "{repository}"\n{pyproject_extra}'
    (root / "pyproject.toml").write_text(f'{build}\n[tool.shipflow.git]\nmodel = "gitflow"\n')
    (root / ".gitignore").write_text(".shipflow/\n__pycache__/\n")
    (root / "deploy" / "deploy.toml").write_text(target_toml)


def production_toml(
    *,
    app: str,
    hosts: list[str],
    port: int,
    identity_file: Path,
    known_hosts: Path,
    app_dir: Path,
    slots: tuple[int, int],
    upstream_path: Path,
    nginx_argv: list[str],
    nginx_pid_file: Path,
    public_url: str,
    deploy_timeout: int = 30,
    top_level: str = "",
    switch_port: int | None = None,
    switch: str | None = None,
    bake: str = "seconds = 0",
) -> str:
    """deploy/deploy.toml with one production target whose env file comes from PROD_ENV_FILE; ``bake`` is
    its ``[bake]`` table (no bake window unless a test is about it: production would bake 30 s)."""
    quoted_hosts = ", ".join(f'"{host}"' for host in hosts)
    nginx = ", ".join(f'"{arg}"' for arg in nginx_argv)
    return f"""\
app = "{app}"
container_port = 8000
{top_level}
[health]
deploy_timeout = {deploy_timeout}

[bake]
{bake}

[targets.production]
environment = "production"
hosts = [{quoted_hosts}]
port = {port}
user = "root"
identity_file = "{identity_file}"
known_hosts = "{known_hosts}"
app_dir = "{app_dir}"
slots = [{slots[0]}, {slots[1]}]
upstream_path = "{upstream_path}"
nginx_test = [{nginx}, "-t", "-q"]
nginx_reload = [{nginx}, "-s", "reload"]
nginx_pid_file = "{nginx_pid_file}"
public_url = "{public_url}"
env_file_from = "PROD_ENV_FILE"
drain_timeout = 10
stop_timeout = 5
{f"switch_port = {switch_port}" if switch_port else ""}
{f'switch = "{switch}"' if switch else ""}
"""


def commit_on_main_and_push(root: Path, origin: Path, message: str) -> None:
    """``root`` becomes a git repository on main, committed and pushed to a new bare ``origin``."""
    _run("git", "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "config", "user.email", "test@example.invalid")
    git(root, "config", "user.name", "shipflow test")
    git(root, "remote", "add", "origin", str(origin))
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", message)
    git(root, "push", "--quiet", "--set-upstream", "origin", "main")


def make_remote_project(
    root: Path, server: Path, sshd: Sshd, repository: str, *, bake: str = "seconds = 0"
) -> RemoteProject:
    """The project folder (a git repo on main with a bare origin) and the server side under ``server``;
    ``bake``: its ``[bake]`` table."""
    app = f"sfssh-{uuid.uuid4().hex[:8]}"
    nginx = start_nginx(server / "nginx", app)
    known_hosts = server / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line)
    slots = (free_port(), free_port())
    app_dir = server / "app"
    (root / "envs").mkdir(parents=True)
    target = production_toml(
        app=app,
        hosts=["127.0.0.1"],
        port=sshd.port,
        identity_file=sshd.user_key,
        known_hosts=known_hosts,
        app_dir=app_dir,
        slots=slots,
        switch_port=free_port(),  # a server sharing this machine's network: never a port in use
        upstream_path=nginx.upstream_path,
        nginx_argv=list(nginx.argv),
        nginx_pid_file=nginx.prefix / "nginx.pid",
        public_url=nginx.url,
        deploy_timeout=20,
        bake=bake,
    )
    write_project(root, repository, target)
    commit_on_main_and_push(root, server / "origin.git", "a project deployed over ssh")
    return RemoteProject(root, app, sshd, nginx, known_hosts, app_dir, slots)
