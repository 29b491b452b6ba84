"""An in-memory server for unit tests of the deploy engine: docker containers, files and an nginx, simulated
from the very argv lists :mod:`shipflow.deploy.commands` builds, with a record of every command and failures
put where a test says.

It answers a command only when it equals what a builder produces for the same arguments, so a test that
passes here also checks that the engine runs the commands the builders define. A command it does not know
fails the test.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shipflow.deploy import commands, nat, responder, traffic_log
from shipflow.deploy.commands import Release
from shipflow.deploy.context import Deployment
from shipflow.deploy.lock import Actor
from shipflow.deploy.settings import load_deploy_settings
from shipflow.hosts import DryRunHost
from shipflow.hosts.base import CommandResult
from shipflow.report import Reporter

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterable, Sequence

    from shipflow.deploy.settings import TargetSettings

SETTINGS = """\
app = "demo"
migrate = "off"

[health]
deploy_timeout = 0.3

[targets.local]
slots = [18000, 18001]
proxy_port = 18080
switch_port = 18090
drain_timeout = 2
"""
"""The project the scripted server is deployed from: local target, slots 18000 (blue) and 18001 (green)."""
RELEASES = {
    name: Release(image=f"demo:{name}", sha=f"{name}{'0' * 38}", version=name) for name in ("v1", "v2", "v3")
}


class Killed(BaseException):
    """The deploying process died here (SIGKILL): nothing after this command runs, no cleanup either."""


@dataclass
class Container:
    image: str
    labels: dict[str, str]
    port: int | None
    running: bool = True


@dataclass
class ScriptedHost:
    """A server whose docker engine has ``images`` (reference -> labels) and nothing running yet.

    ``unhealthy`` images never answer their health check; ``fail`` maps a command's first words to the
    result it gives instead; ``kill_at`` names the first words of the command at which the deploying
    process dies.
    """

    target: TargetSettings
    images: dict[str, dict[str, str]]
    unhealthy: set[str] = field(default_factory=set)
    fail: dict[tuple[str, ...], CommandResult] = field(default_factory=dict)
    kill_at: tuple[str, ...] | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    containers: dict[str, Container] = field(default_factory=dict)
    ran: list[tuple[str, ...]] = field(default_factory=list)
    nginx_reloads: int = 0
    dead: bool = False
    nat_permitted: bool = True  # the deploying user may change the NAT table (root)
    nat_rules: dict[str, int] = field(default_factory=dict)  # the kernel's chains: name -> DNAT port
    weighted: dict[str, tuple[int, int]] = field(default_factory=dict)  # chain -> a canary's (port, percent)
    open_connections: dict[int, int] = field(default_factory=dict)  # slot port -> established count
    slow_stops: bool = False  # a stop left in the background is still going on
    logs: dict[str, list[str]] = field(default_factory=dict)  # container -> its `--timestamps` lines
    one_off_result: CommandResult | None = None  # what a `docker run --rm` one-off prints and exits with
    attached: list[tuple[str, ...]] = field(default_factory=list)  # commands run on the user's terminal
    failing: set[str] = field(default_factory=set)  # images whose every path but /health answers 500
    interrupt_at: tuple[str, ...] | None = None  # the first words of a command at which Ctrl-C comes (once)

    # --- the Host protocol ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def rehearses(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def query(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandResult:
        return self._answer(tuple(argv), None)

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> CommandResult:
        return self._answer(tuple(argv), stdin)

    def run_stream(
        self,
        argv: Sequence[str],
        chunks: Iterable[bytes] | None,
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> CommandResult:
        done = self._answer(tuple(argv), b"".join(chunks or ()))
        for line in done.stdout.splitlines():
            if on_line is not None:
                on_line(line)
        return done

    def run_attached(self, argv: Sequence[str]) -> int:
        self.attached.append(tuple(argv))
        return self._answer(tuple(argv), None).exit_code

    def write_file(self, path: str, content: bytes, *, mode: int = 0o644) -> None:
        self._alive(("write", path))
        self.files[path] = content

    def read_file(self, path: str) -> bytes | None:
        self._alive(("read", path))
        return self.files.get(path)

    # --- what a test looks at -------------------------------------------------------------------

    def routed_port(self) -> int | None:
        """The port new connections through nginx reach: the include's, or the NAT rule's (a slot, or the
        maintenance page's)."""
        text = self.files.get(self.target.upstream_path)
        port = commands.routed_port(text.decode()) if text is not None else None
        if port is not None and port == self.target.switch_port:
            return next(iter(self.nat_rules.values()), None)
        return port

    def page_health_port(self) -> int | None:
        """The slot the maintenance page passes the health path to, when its responder runs."""
        conf = self.files.get(f"{responder.folder(self.target)}/nginx.conf")
        if conf is None or responder.pid_file(self.target) not in self.files:
            return None
        found = re.search(r"proxy_pass http://127\.0\.0\.1:(\d+);", conf.decode())
        return int(found.group(1)) if found else None

    def serving_image(self) -> str | None:
        port = self.routed_port()
        return next((c.image for c in self.containers.values() if c.port == port and c.running), None)

    # --- the simulation -------------------------------------------------------------------------

    def _alive(self, argv: tuple[str, ...]) -> None:
        if self.interrupt_at is not None and argv[: len(self.interrupt_at)] == self.interrupt_at:
            self.interrupt_at = None
            raise KeyboardInterrupt
        if self.dead:
            raise Killed(f"the process was already dead before {argv}")
        if self.kill_at is not None and argv[: len(self.kill_at)] == self.kill_at:
            self.dead = True
            raise Killed(f"killed at {argv}")

    def _answer(self, argv: tuple[str, ...], stdin: bytes | None) -> CommandResult:
        self._alive(argv)
        self.ran.append(argv)
        for prefix, result in self.fail.items():
            if argv[: len(prefix)] == prefix:
                return CommandResult(argv, result.exit_code, result.stdout, result.stderr)
        if argv[:3] == ("docker", "run", "--rm") and "shipflow-exec" in argv and self.one_off_result:
            assert argv == tuple(self._one_off_argv(argv)), argv
            return dataclasses.replace(self.one_off_result, argv=argv)
        code, out = self._simulate(argv, stdin)
        missing_chain = code != 0 and nat.NFT in argv and "list" in argv and self.nat_permitted
        error = "Error: No such file or directory" if missing_chain else f"scripted: {argv[0]} failed"
        return CommandResult(argv, code, out, "" if code == 0 else error)

    def _one_off_argv(self, argv: tuple[str, ...]) -> list[str]:
        """The argv :func:`commands.exec_one_off` builds for the one-off ``argv`` claims to be."""
        name = next(
            n for n, c in self.containers.items() if c.running and c.image == argv[argv.index("-c") - 1]
        )
        container = self.containers[name]
        slot = next(s for s in commands.slots_of(self.target) if s.port == container.port)
        release = Release(
            container.image, container.labels["shipflow.sha"], container.labels["shipflow.version"]
        )
        exports = next(word.split(":")[0] for word in argv if word.endswith(f":{commands.EXEC_ENV_FILE}:ro"))
        command = argv[argv.index("shipflow-exec") + 1 :]
        from shipflow.deploy.settings import load_deploy_settings as load

        settings = load(Path(self.target.state_dir).parent.parent, {})
        interactive = argv[3] == "-it"
        return commands.exec_one_off(
            settings, self.target, slot, release, exports, command, interactive=interactive
        )

    def _simulate(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str]:
        if argv[0] == "docker":
            return self._docker(argv)
        if argv[:4] == tuple(commands.stop_in_background("", 0, "")[:4]):
            # Done by the time the next command runs (its record gone), unless the test keeps it stopping.
            if self.slow_stops:
                return 0, ""
            if self.files.get(argv[4], b"").decode().strip() == argv[5]:
                del self.files[argv[4]]
            return self._docker(argv[6:])
        if argv[:3] == ("sh", "-c", 'exec "$@" 2>&1') and argv[4:6] == ("docker", "logs"):
            return self._logs(argv)
        if argv[0] == "curl" and argv[-2] == commands.timed_probe("", 1)[-2]:
            return self._timed_curl(argv[-1])
        if argv[0] == "curl":
            return self._curl(argv)
        if argv[0] in ("stat", "tail", "date"):
            return self._traffic_log(argv)
        target = self.target
        path = argv[-1]
        if argv == tuple(commands.make_folders(*argv[2:])):
            return 0, ""
        if len(argv) == 6 and argv == tuple(commands.give_to_image_user(argv[4], argv[5])):
            return (0, "") if argv[4] in self.images else (1, "")
        if argv == tuple(commands.remove_file(path)):
            self.files.pop(path, None)
            return 0, ""
        if len(argv) == 6 and argv == tuple(commands.move_file_if_present(argv[4], argv[5])):
            if argv[4] in self.files:
                self.files[argv[5]] = self.files.pop(argv[4])
            return 0, ""
        if argv == tuple(commands.create_lock(path)):
            if path in self.files:
                return 1, ""
            self.files[path] = stdin or b""
            return 0, ""
        if len(argv) == 6 and argv == tuple(commands.take_over_lock(argv[4], argv[5])):
            if self.files.get(argv[4], b"").decode() == argv[5]:
                self.files[argv[4]] = stdin or b""
                return 0, ""
            return 1, ""
        if len(argv) == 6 and argv == tuple(commands.release_own_lock(argv[4], argv[5])):
            if self.files.get(argv[4], b"").decode() == argv[5]:
                del self.files[argv[4]]
            return 0, ""
        if len(argv) == 7 and argv == tuple(commands.append_and_release_own_lock(*argv[4:])):
            self.files[argv[4]] = self.files.get(argv[4], b"") + (stdin or b"")
            if self.files.get(argv[5], b"").decode() == argv[6]:
                del self.files[argv[5]]
            return 0, ""
        if argv == tuple(commands.append_stdin(path)):
            self.files[path] = self.files.get(path, b"") + (stdin or b"")
            return 0, ""
        if argv == target.nginx_test:
            return 0, ""
        if argv == target.nginx_reload:
            self.nginx_reloads += 1
            return 0, ""
        if argv == tuple(commands.nginx_start(target)):
            self.files[target.nginx_pid_file] = b"4242\n"
            return 0, ""
        if argv == tuple(commands.process_alive(path)):
            alive = path == "4242" or (path == "4343" and responder.pid_file(target) in self.files)
            return (0, "") if alive else (1, "")
        if argv == tuple(responder.test_config(target)):
            return 0, ""
        if argv == tuple(responder.start(target)):
            self.files[responder.pid_file(target)] = b"4343\n"
            return 0, ""
        if argv == tuple(responder.reload(target)):
            return (0, "") if responder.pid_file(target) in self.files else (1, "")
        if argv == tuple(responder.stop(target)):
            self.files.pop(responder.pid_file(target), None)
            return 0, ""
        if argv == tuple(commands.worker_pids(4242)) or argv[:3] == ("ps", "-o", "pid="):
            return 0, ""
        if argv[0] == nat.NFT:
            return self._nft(argv, stdin)
        if argv[:3] == ("sudo", "-n", nat.NFT):
            return (1, "") if not self.nat_permitted else self._nft(argv[2:], stdin)
        if argv == tuple(commands.nginx_stop(target)):
            self.files.pop(target.nginx_pid_file, None)
            return 0, ""
        if argv[0] == "ss":
            port = int(argv[-1].split(":")[1].split()[0])
            assert argv == tuple(nat.established_to(port))
            count = self.open_connections.pop(port, 0)  # they finish while the drain waits
            return 0, "".join(f"0 0 127.0.0.1:{port} 127.0.0.1:4{i:04d}\n" for i in range(count))
        raise AssertionError(f"the scripted host does not know {argv}")

    def _nft(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str]:
        """nftables as far as the switch uses it: a rule set file is one transaction."""
        if not self.nat_permitted:
            return 1, ""
        if argv == tuple(nat.can_use(())):
            return 0, ""
        if argv[:3] == ("nft", "list", "chain"):
            port = self.nat_rules.get(argv[-1])
            if port is None:
                return 1, ""
            match = f"ip daddr 127.0.0.1 tcp dport {self.target.switch_port}"
            canary = self.weighted.get(argv[-1])
            first = f"{match} {nat.WEIGHTED} < {canary[1]} dnat to 127.0.0.1:{canary[0]}\n" if canary else ""
            return 0, f"{first}{match} dnat to 127.0.0.1:{port}\n"
        assert argv == tuple(nat.apply(())), argv
        text = (stdin or b"").decode()
        chain = re.search(r"chain ip shipflow (\S+)", text)
        assert chain is not None, text
        if f"delete chain ip shipflow {chain.group(1)}" in text:
            self.nat_rules.pop(chain.group(1), None)
        elif nat.WEIGHTED in text:  # a canary step: the share to the new slot, the rest to the old one
            found = re.search(rf"{nat.WEIGHTED} < (\d+) dnat to 127\.0\.0\.1:(\d+)", text)
            assert found is not None, text
            self.weighted[chain.group(1)] = (int(found.group(2)), int(found.group(1)))
            self.nat_rules[chain.group(1)] = int(re.findall(r"dnat to 127\.0\.0\.1:(\d+)", text)[-1])
        else:
            port = nat.routed_port(text, self.target.switch_port)
            assert port is not None, text
            self.nat_rules[chain.group(1)] = port
            self.weighted.pop(chain.group(1), None)
        return 0, ""

    def _docker(self, argv: tuple[str, ...]) -> tuple[int, str]:
        reference = argv[-1]
        if argv == tuple(commands.image_labels(reference)):
            known = reference in self.images
            return (0, json.dumps(self.images[reference])) if known else (1, "")
        if argv[:3] == ("docker", "image", "inspect"):
            if reference not in self.images:
                return 1, ""
            return 0, ("" if "Config.User" in argv[4] else f"sha256:{reference}")
        if argv[:4] == tuple(commands.inspect_containers([])):
            found = [self._inspect(name) for name in argv[4:] if name in self.containers]
            return 0, json.dumps(found)
        if argv[:3] == ("docker", "run", "--detach"):
            return self._start(argv)
        if argv == tuple(commands.start_container(reference)):
            self.containers[reference].running = True
            return 0, ""
        if argv[:2] == ("docker", "stop"):
            if reference not in self.containers:
                return 1, ""
            self.containers[reference].running = False
            return 0, ""
        if argv == tuple(commands.remove_container(reference)):
            self.containers.pop(reference, None)
            return 0, ""
        if len(argv) == 4 and argv == tuple(commands.rename_container(argv[2], argv[3])):
            self.containers[argv[3]] = self.containers.pop(argv[2])
            return 0, ""
        if argv[:3] == ("docker", "logs", "--tail"):
            return 0, "booting\nready? not quite\n"
        raise AssertionError(f"the scripted docker does not know {argv}")

    def _logs(self, argv: tuple[str, ...]) -> tuple[int, str]:
        name, words = argv[-1], argv[6:-1]
        since = words[words.index("--since") + 1] if "--since" in words else None
        tail = int(words[words.index("--tail") + 1]) if "--tail" in words else None
        built = commands.logs_with_timestamps(name, since=since, tail=tail, follow="--follow" in words)
        assert argv == tuple(built), argv
        if name not in self.containers:
            return 1, ""
        lines = self.logs.get(name, [])
        return 0, "".join(f"{line}\n" for line in (lines[-tail:] if tail else lines))

    def _start(self, argv: tuple[str, ...]) -> tuple[int, str]:
        name = argv[argv.index("--name") + 1]
        if name in self.containers:
            return 125, ""
        labels = dict(argv[i + 1].split("=", 1) for i, word in enumerate(argv) if word == "--label")
        published = argv[argv.index("--publish") + 1]
        self.containers[name] = Container(argv[-1], labels, int(published.split(":")[1]))
        return 0, ""

    def _inspect(self, name: str) -> dict[str, object]:
        container = self.containers[name]
        return {
            "Name": f"/{name}",
            "Image": f"sha256:{container.image}",  # as `docker image inspect` answers for the image
            "State": {"Running": container.running},
            "Config": {"Labels": container.labels},
        }

    def _curl(self, argv: tuple[str, ...]) -> tuple[int, str]:
        url = argv[-1]
        page = f"http://127.0.0.1:{self.target.maintenance_port}/"
        if url.startswith(page):
            return (0, "down\n503") if self.page_health_port() else (0, "\n000")
        if url.startswith(self.target.public_url):
            text = self.files.get(self.target.upstream_path)
            nginx_to = commands.routed_port(text.decode()) if text is not None else None  # $upstream_addr
            if self.routed_port() == self.target.maintenance_port:
                return self._through_the_page(url, nginx_to)
            serving = self.serving_image()
            if nginx_to is None or serving is None or serving in self.unhealthy:
                return 0, "\n502"
            return 0, f"HTTP/1.1 200 OK\r\n{commands.UPSTREAM_HEADER}: 127.0.0.1:{nginx_to}\r\n\r\nok\n200"
        port = int(re.match(r"http://127\.0\.0\.1:(\d+)/", url).group(1))  # type: ignore[union-attr]
        running = [c for c in self.containers.values() if c.port == port and c.running]
        if not running or running[0].image in self.unhealthy:
            return 0, "\n000"
        return 0, "ok\n200"

    def _timed_curl(self, url: str) -> tuple[int, str]:
        """A bake's probe: ``<status> <seconds>``; through the front it is also a line of the traffic log,
        as nginx would write it (with the release header of the image that answered)."""
        front = url.startswith(self.target.public_url)
        if front:
            port = self.routed_port()
            path = url[len(self.target.public_url) :] or "/"
        else:
            found = re.match(r"http://127\.0\.0\.1:(\d+)(/.*)", url)
            assert found is not None, url
            port, path = int(found.group(1)), found.group(2)
        running = [c for c in self.containers.values() if c.port == port and c.running]
        if not running:
            status, release = (502 if front else 0), "-"
        else:
            image = running[0].image
            status = 500 if image in self.failing and path != "/health" else 200
            release = running[0].labels.get("shipflow.sha", "-")
        if front:
            line = f"{time.time():.3f}\t{status}\t0.004\t{release}\n"
            log = traffic_log.log_path(self.target)
            self.files[log] = self.files.get(log, b"") + line.encode()
        return 0, f"{status:03d} 0.004"

    def _traffic_log(self, argv: tuple[str, ...]) -> tuple[int, str]:
        if argv == tuple(traffic_log.clock()):
            return 0, f"{time.time():.6f}\n"
        path = argv[-1]
        content = self.files.get(path)
        if content is None:
            return 1, ""
        if argv == tuple(traffic_log.size(path)):
            return 0, f"{len(content)}\n"
        if argv == tuple(traffic_log.read_end(path)):
            return 0, content[-traffic_log.BASELINE_BYTES :].decode()
        offset = int(argv[2].lstrip("+")) - 1
        assert argv == tuple(traffic_log.read_from(path, offset)), argv
        return 0, content[offset:].decode()

    def _through_the_page(self, url: str, nginx_to: int | None) -> tuple[int, str]:
        """The front answered by the maintenance page: 503, but the health path from the slot behind it."""
        health = self.page_health_port()
        if health is None:
            return 0, "\n502"
        if not url.endswith("/health"):
            return 0, "HTTP/1.1 503\r\nRetry-After: 300\r\n\r\ndown\n503"
        running = [c for c in self.containers.values() if c.port == health and c.running]
        if not running or running[0].image in self.unhealthy:
            return 0, "\n502"
        return 0, f"HTTP/1.1 200 OK\r\n{commands.UPSTREAM_HEADER}: 127.0.0.1:{nginx_to}\r\n\r\nok\n200"


def labels_of(release: Release) -> dict[str, str]:
    return {
        "org.opencontainers.image.revision": release.sha,
        "org.opencontainers.image.version": release.version,
    }


def make_host(root: Path, extra: str = "") -> ScriptedHost:
    """A scripted server holding every release of :data:`RELEASES`, for the project in ``root`` whose
    settings are :data:`SETTINGS` plus ``extra`` lines for its local target (written again each call)."""
    (root / "deploy").mkdir(exist_ok=True)
    (root / "deploy" / "deploy.toml").write_text(SETTINGS + extra)
    target = load_deploy_settings(root, {}).target("local")
    return ScriptedHost(target, {release.image: labels_of(release) for release in RELEASES.values()})


def deployment(host: ScriptedHost, *, pid: int | None = None, dry_run: bool = False) -> Deployment:
    """One run against ``host``, its settings read again as each run reads them (output kept in memory)."""
    settings = load_deploy_settings(Path(host.target.state_dir).parent.parent, {})
    reporter = Reporter(stream=io.StringIO())
    actor = Actor(
        "dev", socket.gethostname(), pid or os.getpid(), "inv deploy.local", "2026-12-01T00:00:00+00:00"
    )
    return Deployment(
        settings=settings,
        target=settings.target(host.target.name),
        host=DryRunHost(host, reporter) if dry_run else host,
        reporter=reporter,
        actor=actor,
        env_file=b'SECRET_KEY="canary"\n',
    )


def output(d: Deployment) -> str:
    stream = d.reporter.stream
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()
