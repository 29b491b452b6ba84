"""A real image registry (distribution's ``docker-registry``) on a test server, for deploys that push and
pull instead of streaming.

The registry runs in the server's network namespace on its ``127.0.0.1:PORT``, where the server's engine
pulls from it. This machine's engine pushes to the same name, ``127.0.0.1:PORT``, through a forwarder from
this machine's 127.0.0.1 to the server's veth address. Both engines allow plain HTTP to 127.0.0.0/8.
"""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from deploy_support import free_port
from netns_support import NamespaceServer

REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
http:
  addr: :{port}
"""


class _Forward(socketserver.BaseRequestHandler):
    server: _Forwarder

    def handle(self) -> None:
        with socket.create_connection(self.server.target, timeout=30) as upstream:
            ends = {self.request: upstream, upstream: self.request}
            while True:
                readable, _, _ = select.select(list(ends), [], [], 120)
                if not readable:
                    return
                for end in readable:
                    data = end.recv(1 << 16)
                    if not data:
                        return
                    ends[end].sendall(data)


class _Forwarder(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        super().__init__(listen, _Forward)


@contextlib.contextmanager
def registry_on(server: NamespaceServer, folder: Path) -> Iterator[str]:
    """A registry on ``server``, named ``127.0.0.1:PORT`` on the server and on this machine alike."""
    port = free_port()
    folder.mkdir(parents=True)
    config = folder / "config.yml"
    config.write_text(REGISTRY_CONFIG.format(root=folder / "data", port=port))
    log = folder / "registry.log"
    process = subprocess.Popen(
        ["ip", "netns", "exec", server.netns, "docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    forwarder = _Forwarder(("127.0.0.1", port), (server.address, port))
    thread = threading.Thread(target=forwarder.serve_forever, daemon=True)
    thread.start()
    try:
        _wait_for_registry(port, process, log)
        yield f"127.0.0.1:{port}"
    finally:
        forwarder.shutdown()
        forwarder.server_close()
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _wait_for_registry(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"docker-registry did not answer on port {port}:\n{log.read_text()[-2000:]}")
