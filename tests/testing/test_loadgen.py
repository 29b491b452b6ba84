"""shipflow.testing.loadgen against an in-process HTTP/1.1 server on 127.0.0.1 that keeps the example
service's contract (GET /, POST /notes, GET /notes) and misbehaves on request: it closes connections
cleanly, or resets them mid-request. Also the benchmark's pure helpers (percentiles, wrk output)."""

from __future__ import annotations

import importlib.util
import json
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shipflow.testing.loadgen import (
    CLOSE,
    KEEPALIVE,
    KeepAliveClient,
    LatencySamples,
    LoadGenerator,
    Reply,
    idle_socket_closed,
    is_write,
    judge,
    missing_writes,
    percentile,
)

pytestmark = pytest.mark.cli

SHA = "a" * 40
BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "zero_downtime.py"


class NotesServer(ThreadingHTTPServer):
    """The write contract in memory, with counters and switches for misbehaving."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), NotesHandler)
        self.lock = threading.Lock()
        self.accepted = 0
        self.handled = 0
        self.notes: dict[int, str] = {}
        self.plain = False  # answer GET / with text and no X-Release header
        self.close_every = 0  # every Nth answer says Connection: close
        self.hang_up_every = 0  # every Nth answer is followed by closing the connection, unannounced
        self.reset_every = 0  # every Nth request is answered with a TCP reset
        self.page_cap = 1000  # GET /notes answers at most this many ids
        self.closed = threading.Event()  # set each time the server has closed a connection

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.closed.set()

    def count(self) -> int:
        with self.lock:
            self.handled += 1
            return self.handled


class NotesHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    server: NotesServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle waits for the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:
            self.server.accepted += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self._misbehaved():
            return
        parts = urlsplit(self.path)
        if parts.path == "/notes":
            query = parse_qs(parts.query)
            after, limit = int(query["after"][0]), min(int(query["limit"][0]), self.server.page_cap)
            with self.server.lock:
                ids = sorted(i for i in self.server.notes if i > after)[:limit]
            self._answer(200, {"ids": ids})
        elif self.server.plain:
            self._answer(200, b"hello from another service")
        else:
            self._answer(200, {"sha": SHA})

    def do_POST(self) -> None:
        title = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["title"]
        if self._misbehaved():
            return
        assert len(title) <= 200
        with self.server.lock:
            note_id = len(self.server.notes) + 1
            self.server.notes[note_id] = title
        self._answer(201, {"id": note_id, "sha": SHA})

    def _misbehaved(self) -> bool:
        number = self.server.count()
        if self.server.reset_every and number % self.server.reset_every == 0:
            # SO_LINGER 0: close() sends a RST instead of a FIN, with the request unanswered.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return True
        self._closing = bool(self.server.close_every and number % self.server.close_every == 0)
        self._hanging_up = bool(self.server.hang_up_every and number % self.server.hang_up_every == 0)
        return False

    def _answer(self, status: int, payload: object) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(payload, bytes) else "application/json")
        self.send_header("Content-Length", str(len(body)))
        if not self.server.plain:
            self.send_header("X-Release", SHA)
        if self._closing:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        if self._hanging_up:
            self.close_connection = True


@pytest.fixture
def server() -> Iterator[NotesServer]:
    running = NotesServer()
    thread = threading.Thread(target=running.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()
    thread.join(timeout=5)


def run(url: str, **options: Any) -> LoadGenerator:
    """A generator run to its request bound (or 5 s), stopped."""
    generator = LoadGenerator(url, max_seconds=5, **options)
    generator.start().wait(10)
    generator.stop()
    return generator


def test_keepalive_workers_reuse_their_connections(server: NotesServer) -> None:
    load = run(server.url, workers=0, keepalive_workers=2, max_requests=200)
    result = load.result

    assert result.requests >= 200 and result.failed == 0, result.failures
    assert server.accepted == 2 == result.modes[KEEPALIVE].connections
    assert result.served_by == {SHA: result.requests}
    assert result.modes[CLOSE].requests == 0
    assert result.modes[KEEPALIVE].p50_ms is not None


def test_close_workers_open_one_connection_per_request(server: NotesServer) -> None:
    result = run(server.url, workers=2, max_requests=60).result

    assert result.requests >= 60 and result.failed == 0, result.failures
    assert server.accepted == result.requests == result.modes[CLOSE].connections
    assert result.modes[KEEPALIVE].requests == 0


def test_both_modes_at_once_with_writes_record_every_acknowledged_id(server: NotesServer) -> None:
    result = run(server.url, workers=2, keepalive_workers=2, write_share=0.25, max_requests=200).result

    assert result.failed == 0, result.failures
    keepalive, close = result.modes[KEEPALIVE], result.modes[CLOSE]
    assert keepalive.requests > 0 and close.requests > 0
    assert server.accepted == close.requests + keepalive.connections
    assert keepalive.connections == 2
    assert sorted(result.acknowledged_writes) == sorted(server.notes)
    assert len(result.acknowledged_writes) >= result.requests // 4 - 4  # every 4th request of each worker
    assert len(set(server.notes.values())) == len(server.notes)  # unique titles
    assert result.summary().startswith(f"requests={result.requests} failed=0 writes=")
    assert "keepalive: requests=" in result.summary() and "close: requests=" in result.summary()


def test_a_server_announcing_connection_close_is_no_failure(server: NotesServer) -> None:
    server.close_every = 5
    result = run(server.url, workers=0, keepalive_workers=1, max_requests=50).result

    assert result.requests == 50 and result.failed == 0, result.failures
    assert result.modes[KEEPALIVE].connections == server.accepted == 10


def test_an_idle_connection_the_server_closed_is_reopened_without_a_failure(server: NotesServer) -> None:
    host, port = server.server_address[:2]
    client = KeepAliveClient(str(host), int(port))
    server.hang_up_every = 1
    first = client.request("GET", "/")
    assert first.status == 200 and not first.will_close  # not announced: the connection looks reusable
    assert server.closed.wait(5)

    assert client.request("GET", "/").status == 200
    assert client.connections == server.accepted == 2
    client.close()


def test_an_idle_socket_is_closed_once_its_peer_hung_up_or_spoke() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not idle_socket_closed(ours)
        theirs.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        assert idle_socket_closed(ours)
    ours, theirs = socket.socketpair()
    with ours:
        theirs.close()
        assert idle_socket_closed(ours)
    assert idle_socket_closed(None)


def test_a_connection_reset_mid_request_is_a_failure_of_each_mode(server: NotesServer) -> None:
    server.reset_every = 3
    keepalive = run(server.url, workers=0, keepalive_workers=1, max_requests=30).result
    server.handled = 0
    close = run(server.url, workers=1, max_requests=30).result

    assert keepalive.failed == 10 and keepalive.modes[KEEPALIVE].failed == 10
    assert keepalive.modes[KEEPALIVE].connections == 10  # reconnected after each reset but the last
    assert close.failed == 10 and close.modes[CLOSE].failed == 10
    assert all(f.startswith("keepalive GET: ") for f in keepalive.failures), keepalive.failures
    assert all(f.startswith("close GET: ") for f in close.failures), close.failures
    assert any("Reset" in f or "Disconnected" in f for f in keepalive.failures), keepalive.failures


def test_a_non_json_service_still_counts_gets(server: NotesServer) -> None:
    server.plain = True
    result = run(server.url, workers=1, keepalive_workers=1, max_requests=20).result

    assert result.failed == 0 and result.served_by == {"?": result.requests}


def test_missing_writes_pages_through_notes_and_names_the_lost_one(server: NotesServer) -> None:
    result = run(server.url, workers=1, keepalive_workers=1, write_share=1.0, max_requests=40).result
    acknowledged = result.acknowledged_writes
    assert len(acknowledged) >= 40 and result.failed == 0
    server.page_cap = 7
    assert missing_writes(server.url, acknowledged) == []

    lost = sorted(acknowledged)[len(acknowledged) // 2]
    del server.notes[lost]
    before = server.accepted
    assert missing_writes(server.url, acknowledged) == [lost]
    assert server.accepted == before + 1  # all pages on one connection
    assert missing_writes(server.url, []) == []


@pytest.mark.parametrize("url", ["http://10.0.0.1:8080/", "http://example.com/", "http://[::2]/"])
def test_load_is_never_sent_off_this_machine(url: str) -> None:
    with pytest.raises(ValueError, match="only ever sent to this machine"):
        LoadGenerator(url)
    with pytest.raises(ValueError, match="only ever sent to this machine"):
        missing_writes(url, [1])


def test_writes_come_at_the_share_asked() -> None:
    assert [i for i in range(20) if is_write(i, 0.2)] == [4, 9, 14, 19]
    assert sum(is_write(i, 0.29) for i in range(100)) == 29
    assert not any(is_write(i, 0.0) for i in range(50))
    assert all(is_write(i, 1.0) for i in range(50))


def test_judge_accepts_2xx_and_acknowledges_only_201_with_an_id() -> None:
    assert judge(Reply(200, b'{"sha": "s1"}', None, False), write=False).sha == "s1"
    assert judge(Reply(200, b"<html>", "s2", False), write=False).sha == "s2"
    assert judge(Reply(204, b"", None, False), write=False).sha == "?"
    assert judge(Reply(201, b'{"id": 7, "sha": "s"}', None, False), write=True).note_id == 7
    assert not judge(Reply(200, b'{"id": 7}', None, False), write=True).ok
    assert not judge(Reply(201, b'{"id": "7"}', None, False), write=True).ok
    failed = judge(Reply(502, b"Bad Gateway", None, False), write=False)
    assert not failed.ok and failed.detail.startswith("HTTP 502")


def test_percentiles_and_bounded_samples() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert percentile([float(i) for i in range(1, 101)], 100) == 100.0

    samples = LatencySamples(capacity=100)
    for i in range(10_000):
        samples.add(i / 1000)
    assert len(samples.values) < 100 and samples.seen == 10_000
    assert samples.ms(50) == pytest.approx(5000, rel=0.05)  # spread over the whole run, not its start


@pytest.fixture(scope="module")
def zero_downtime() -> ModuleType:
    spec = importlib.util.spec_from_file_location("zero_downtime_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


WRK_OUTPUT = """\
Running 30s test @ http://127.0.0.1:8080/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   850.12us    1.05ms  40.00ms   95.00%
    Req/Sec    10.20k     1.10k   12.00k    70.00%
  Latency Distribution
     50%  612.00us
     75%    0.98ms
     90%    1.50ms
     99%    1.20s
  609000 requests in 30.00s, 120.00MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:  20300.00
Transfer/sec:      4.00MB
"""


def test_wrk_output_is_parsed(zero_downtime: ModuleType) -> None:
    parsed = zero_downtime.parse_wrk(WRK_OUTPUT)

    assert parsed == {
        "requests": 609000,
        "requests_per_s": 20300.0,
        "p50_ms": 0.612,
        "p99_ms": 1200.0,
        "errors": 10,
        "socket_errors": {"connect": 0, "read": 3, "write": 1, "timeout": 2},
        "non_2xx_3xx": 4,
    }
    clean = "\n".join(
        line for line in WRK_OUTPUT.splitlines() if "errors" not in line and "Non-2xx" not in line
    )
    assert zero_downtime.parse_wrk(clean)["errors"] == 0


def test_the_benchmark_summary_line(zero_downtime: ModuleType) -> None:
    line = zero_downtime.summary_line(
        {
            "switch": "nat",
            "deploys": 20,
            "requests": 1000,
            "failed": 1,
            "keepalive_failed": 1,
            "baseline_failed": 300,
            "cutover_ms_median": 12.34,
            "overhead_s_median": 1.234,
        }
    )
    assert line == (
        "zero_downtime switch=nat deploys=20 requests=1000 failed=1 keepalive_failed=1 baseline_failed=300 "
        "cutover_ms_median=12 overhead_s_median=1.23"
    )
