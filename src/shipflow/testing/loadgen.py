"""A small, bounded HTTP load generator for zero-downtime checks against 127.0.0.1.

Two kinds of workers run at once, as real clients do:

- ``close`` workers open a new connection per request (``Connection: close``), so every request sees
  where traffic goes right now;
- ``keepalive`` workers each hold one persistent HTTP/1.1 connection, as browsers and pooled clients
  do, and send the next request on it. A new connection is opened only after the server closed the old
  one cleanly: its response said ``Connection: close``, or the idle socket is readable (EOF) before the
  next request is sent. A connection reset or dropped while a request is on it is a failed request, which
  is what a proxy reload costs such clients.

Each worker mixes ``GET /`` with ``POST /notes`` (``write_share`` of its requests, each with a unique
title); a 201 answer's ``id`` is an acknowledged write, and :func:`missing_writes` later tells which of
those the service no longer has. A request fails on no answer, a transport error or a status outside
2xx (with ``pages_ok``, a maintenance page, ``503`` with ``Retry-After``, is an answer, counted under
:data:`PAGE`, and a write it answers is simply not acknowledged). Which release answered comes from the
JSON body's ``sha``, else the ``X-Release`` header, else ``?``. Generators stop by themselves after
``max_seconds`` or ``max_requests``; latency samples are bounded per mode.
"""

from __future__ import annotations

import http.client
import json
import math
import select
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urljoin, urlsplit

from shipflow.figures import nearest_rank

LOOPBACK = ("127.0.0.1", "localhost", "::1")
KEEPALIVE = "keepalive"
CLOSE = "close"
MODES = (KEEPALIVE, CLOSE)
PAGE = "maintenance page"
NO_ANSWER = "no answer"
MAX_FAILURES_KEPT = 20
LATENCY_SAMPLES_PER_MODE = 100_000
NOTES_PAGE = 1000
TIMEOUT_SECONDS = 10.0

TransportError = (OSError, http.client.HTTPException)


def loopback_target(url: str) -> tuple[str, int, str]:
    """``(host, port, path)`` of ``url``; raise ValueError unless its host is this machine."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise ValueError(f"load is only ever sent to this machine (127.0.0.1), not {parts.hostname}")
    return parts.hostname, parts.port or 80, parts.path or "/"


def percentile(samples: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``samples``; None when there are none."""
    return nearest_rank(samples, q) if samples else None


class LatencySamples:
    """Latencies in seconds, at most ``capacity`` of them, spread evenly over the whole run.

    While under capacity every sample is kept; when full, every other kept sample is dropped and from
    then on only every ``stride``-th sample is taken, so a long run keeps a uniform subsample.
    """

    def __init__(self, capacity: int = LATENCY_SAMPLES_PER_MODE) -> None:
        self.capacity = max(2, capacity)
        self.seen = 0
        self.stride = 1
        self.values: list[float] = []

    def add(self, seconds: float) -> None:
        self.seen += 1
        if (self.seen - 1) % self.stride:
            return
        self.values.append(seconds)
        if len(self.values) >= self.capacity:
            self.values = self.values[::2]
            self.stride *= 2

    def ms(self, q: float) -> float | None:
        """The ``q``-th percentile in milliseconds, or None without samples."""
        found = percentile(self.values, q)
        return None if found is None else round(found * 1000, 2)


@dataclass
class ModeResult:
    """What the workers of one mode saw. Latencies are those of successful requests only."""

    requests: int = 0
    failed: int = 0
    connections: int = 0
    served_by: Counter[str] = field(default_factory=Counter)
    failed_by: Counter[str] = field(default_factory=Counter)
    """Failed requests by the release that answered them (its ``X-Release``), or :data:`NO_ANSWER`."""
    failures: list[str] = field(default_factory=list)
    latencies: LatencySamples = field(default_factory=LatencySamples)

    @property
    def p50_ms(self) -> float | None:
        return self.latencies.ms(50)

    @property
    def p99_ms(self) -> float | None:
        return self.latencies.ms(99)

    def as_dict(self) -> dict[str, Any]:
        """The counts, the first failures and p50/p99 in ms, ready for a JSON report."""
        return {
            "requests": self.requests,
            "failed": self.failed,
            "connections": self.connections,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "served_by": dict(self.served_by),
            "failed_by": dict(self.failed_by),
            "failures": list(self.failures),
        }


def _no_modes() -> dict[str, ModeResult]:
    return {mode: ModeResult() for mode in MODES}


@dataclass
class LoadResult:
    """Per mode (``modes["keepalive"]``, ``modes["close"]``) and in total; ids of acknowledged writes."""

    modes: dict[str, ModeResult] = field(default_factory=_no_modes)
    acknowledged_writes: list[int] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(mode.requests for mode in self.modes.values())

    @property
    def failed(self) -> int:
        return sum(mode.failed for mode in self.modes.values())

    @property
    def failures(self) -> list[str]:
        """The first failures of each mode, each prefixed by its mode and method."""
        return [detail for mode in self.modes.values() for detail in mode.failures]

    @property
    def served_by(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for mode in self.modes.values():
            total.update(mode.served_by)
        return total

    @property
    def failed_by(self) -> Counter[str]:
        """Failed requests by the release that answered them, or :data:`NO_ANSWER` (a reset connection, a
        502 from the proxy): a release's own errors told apart from the ones a switch would cause."""
        total: Counter[str] = Counter()
        for mode in self.modes.values():
            total.update(mode.failed_by)
        return total

    def summary(self) -> str:
        """One line: the totals, then requests, failures, connections and p50/p99 of each mode."""

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}ms"

        parts = [f"requests={self.requests} failed={self.failed} writes={len(self.acknowledged_writes)}"]
        for name, mode in self.modes.items():
            parts.append(
                f"{name}: requests={mode.requests} failed={mode.failed} connections={mode.connections} "
                f"p50={ms(mode.p50_ms)} p99={ms(mode.p99_ms)}"
            )
        return " | ".join(parts)


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: its status, body, ``X-Release`` and ``Retry-After`` headers and whether the server
    closes after it."""

    status: int
    body: bytes
    release: str | None
    will_close: bool
    retry_after: str | None = None


def _exchange(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> Reply:
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    release, retry_after = response.getheader("X-Release"), response.getheader("Retry-After")
    return Reply(response.status, data, release, response.will_close, retry_after)


def send_once(
    host: str, port: int, method: str, path: str, body: bytes | None = None, timeout: float = TIMEOUT_SECONDS
) -> Reply:
    """One request on a new connection that is closed after it (``Connection: close``).

    Raises OSError or http.client.HTTPException when no complete answer comes back.
    """
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"Connection": "close"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        return _exchange(connection, method, path, body, headers)
    finally:
        connection.close()


def idle_socket_closed(sock: socket.socket | None) -> bool:
    """Whether an idle keep-alive socket is gone or readable before a request is sent on it.

    Readable means the server closed it (EOF) or sent something unasked; either way it cannot carry the
    next request (urllib3's ``is_connection_dropped`` decides the same way).
    """
    if sock is None:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class KeepAliveClient:
    """One persistent HTTP/1.1 connection to ``host:port``, reopened only when it cannot be reused.

    A request goes on the open connection unless the server closed it cleanly (its last answer said
    ``Connection: close``, or the idle socket is readable). A request that raises leaves the connection
    closed, so the next one opens a new connection; :attr:`connections` counts the ones opened.
    """

    def __init__(self, host: str, port: int, timeout: float = TIMEOUT_SECONDS) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connections = 0
        self._connection: http.client.HTTPConnection | None = None

    def _ready(self) -> http.client.HTTPConnection:
        if self._connection is not None and idle_socket_closed(self._connection.sock):
            self.close()
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.connections += 1
            self._connection.connect()
        return self._connection

    def request(self, method: str, path: str, body: bytes | None = None) -> Reply:
        """Send one request and read its whole answer; raise OSError or http.client.HTTPException."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            reply = _exchange(self._ready(), method, path, body, headers)
        except BaseException:
            self.close()
            raise
        if reply.will_close:
            self.close()
        return reply

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass(frozen=True)
class Judged:
    """A request's verdict: ok or not, the release that answered (:data:`NO_ANSWER` when none did), a
    write's id, and what failed."""

    ok: bool
    sha: str = "?"
    note_id: int | None = None
    detail: str = ""


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        loaded = json.loads(body)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def judge(reply: Reply, write: bool, *, pages_ok: bool = False) -> Judged:
    """A 2xx answer is ok; a write is acknowledged only by a 201 whose JSON body holds an integer id. With
    ``pages_ok`` a maintenance page (503 with Retry-After) is ok too, served by :data:`PAGE`."""
    if pages_ok and reply.status == 503 and reply.retry_after:
        return Judged(True, PAGE)
    if not 200 <= reply.status < 300:
        return Judged(False, reply.release or NO_ANSWER, detail=f"HTTP {reply.status}: {reply.body[:100]!r}")
    document = _json_object(reply.body)
    sha = str(document.get("sha") or reply.release or "?")
    if not write:
        return Judged(True, sha)
    note_id = document.get("id")
    if reply.status != 201 or not isinstance(note_id, int) or isinstance(note_id, bool):
        return Judged(False, detail=f"write not acknowledged: HTTP {reply.status}: {reply.body[:100]!r}")
    return Judged(True, sha, note_id)


def is_write(index: int, share: float) -> bool:
    """Whether a worker's ``index``-th request (from 0) is a write: ``share`` 0.2 makes every 5th one."""
    # The epsilon absorbs float error: 0.29 * 100 is 28.999999999999996.
    return math.floor((index + 1) * share + 1e-9) > math.floor(index * share + 1e-9)


class LoadGenerator:
    """``with LoadGenerator(url, ...) as load: ...`` sends requests until the block ends (or a bound is hit).

    ``workers`` is the number of new-connection (``close``) workers, as before keep-alive workers
    existed; ``keepalive_workers`` adds workers that each hold one persistent connection. ``write_share``
    of each worker's requests are ``POST /notes`` (the notes endpoint beside the url's path), the rest
    ``GET url``. ``load.result`` holds the totals and ``load.result.modes`` each mode.
    """

    def __init__(
        self,
        url: str,
        *,
        workers: int = 4,
        keepalive_workers: int = 0,
        write_share: float = 0.0,
        max_seconds: float = 300.0,
        max_requests: int = 1_000_000,
        timeout: float = TIMEOUT_SECONDS,
        pages_ok: bool = False,
    ) -> None:
        self.host, self.port, self.path = loopback_target(url)
        self.pages_ok = pages_ok
        if not 0.0 <= write_share <= 1.0:
            raise ValueError(f"write_share is a fraction of the requests (0 to 1), not {write_share}")
        self.notes_path = urljoin(self.path, "notes")
        self.workers = {CLOSE: max(0, workers), KEEPALIVE: max(0, keepalive_workers)}
        self.write_share = write_share
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.timeout = timeout
        self.result = LoadResult()
        self._token = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _request(self, client: KeepAliveClient | None, write: bool, title: str) -> Judged:
        if write:
            method, path, body = "POST", self.notes_path, json.dumps({"title": title}).encode()
        else:
            method, path, body = "GET", self.path, None
        try:
            if client is None:
                reply = send_once(self.host, self.port, method, path, body, self.timeout)
            else:
                reply = client.request(method, path, body)
        except TransportError as error:
            return Judged(False, NO_ANSWER, detail=f"{type(error).__name__}: {error}")
        verdict = judge(reply, write, pages_ok=self.pages_ok)
        if client is not None and not verdict.ok:
            client.close()  # after a bad answer, don't trust the connection it came on
        return verdict

    def _record(self, mode: str, method: str, verdict: Judged, seconds: float, opened: int) -> None:
        with self._lock:
            seen = self.result.modes[mode]
            seen.requests += 1
            seen.connections += opened
            if verdict.ok:
                seen.served_by[verdict.sha] += 1
                seen.latencies.add(seconds)
                if verdict.note_id is not None:
                    self.result.acknowledged_writes.append(verdict.note_id)
            else:
                seen.failed += 1
                seen.failed_by[verdict.sha] += 1
                if len(seen.failures) < MAX_FAILURES_KEPT:
                    seen.failures.append(f"{mode} {method}: {verdict.detail}")
            if self.result.requests >= self.max_requests:
                self._stop.set()

    def _work(self, mode: str, worker: int) -> None:
        client = KeepAliveClient(self.host, self.port, self.timeout) if mode == KEEPALIVE else None
        deadline = time.monotonic() + self.max_seconds
        sent = 0
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                write = is_write(sent, self.write_share)
                before = client.connections if client is not None else 0
                started = time.perf_counter()
                verdict = self._request(client, write, f"loadgen {self._token} {mode}{worker} #{sent}")
                seconds = time.perf_counter() - started
                opened = client.connections - before if client is not None else 1
                self._record(mode, "POST" if write else "GET", verdict, seconds, opened)
                sent += 1
        finally:
            if client is not None:
                client.close()

    def start(self) -> Self:
        self._threads = [
            threading.Thread(target=self._work, args=(mode, index), daemon=True)
            for mode, count in self.workers.items()
            for index in range(count)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def wait(self, timeout: float) -> LoadResult:
        """Wait up to ``timeout`` seconds for the workers to stop by themselves (a bound was hit)."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return self.result

    def stop(self) -> LoadResult:
        """Stop the workers (each finishes the request it has on the wire) and return the result."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        return self.result

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _page_ids(body: bytes) -> list[int]:
    ids = _json_object(body).get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise ValueError(f"GET /notes answered no list of ids: {body[:100]!r}")
    return ids


def missing_writes(url: str, ids: Iterable[int], *, timeout: float = TIMEOUT_SECONDS) -> list[int]:
    """The acknowledged ``ids`` the service at ``url`` no longer has, ascending.

    Pages through ``GET /notes?after=ID&limit=1000`` (beside the url's path) on one keep-alive
    connection, up to the highest id asked about. Raises ValueError for a non-loopback url or an answer
    that is not a page of ids, and OSError or http.client.HTTPException when the service does not answer
    (a page is tried twice, the second time on a new connection).
    """
    host, port, path = loopback_target(url)
    wanted = set(ids)
    if not wanted:
        return []
    notes_path, highest = urljoin(path, "notes"), max(wanted)
    client = KeepAliveClient(host, port, timeout)
    found: set[int] = set()
    after = 0
    try:
        while after < highest:
            page = _page_ids(_notes_page(client, f"{notes_path}?after={after}&limit={NOTES_PAGE}"))
            if not page:
                break
            if max(page) <= after:
                raise ValueError(f"GET /notes?after={after} answered ids not above it: {page[:5]}")
            found.update(page)
            after = max(page)
    finally:
        client.close()
    return sorted(wanted - found)


def _notes_page(client: KeepAliveClient, target: str) -> bytes:
    try:
        reply = client.request("GET", target)
    except TransportError:
        reply = client.request("GET", target)  # once more, on a new connection
    if reply.status != 200:
        raise ValueError(f"GET {target} answered HTTP {reply.status}: {reply.body[:100]!r}")
    return reply.body
