"""The example service as its image runs it (gunicorn): the notes endpoints on a SQLite file two
containers share, HTTP/1.1 keep-alive, JSON errors, settings errors at start, and SIGTERM under load.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from deploy_support import ServiceRelease, base_image, build_release, free_port
from support import docker, remove_test_images

pytestmark = [pytest.mark.docker, pytest.mark.needs("docker")]

SQLITE_URL = "DATABASE_URL=sqlite:////data/app.db"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, object]
    headers: http.client.HTTPMessage


@pytest.fixture(scope="module")
def release() -> Iterator[ServiceRelease]:
    """An image of the example service as it is in this working tree."""
    repository = f"shipflow-test-service-{uuid.uuid4().hex[:8]}"
    yield build_release(repository, "v1", base_image())
    remove_test_images(repository)


@pytest.fixture(scope="module")
def unmigrated(release: ServiceRelease) -> Iterator[int]:
    """The port of one container of the release on its default database (in-memory SQLite, no tables)."""
    names: list[str] = []
    yield start(release, names)
    for name in names:
        docker("rm", "-f", name, check=False)


@pytest.fixture
def volume() -> Iterator[str]:
    """A docker volume for /data, removed afterwards with any container that still uses it."""
    name = f"shipflow-test-data-{uuid.uuid4().hex[:8]}"
    docker("volume", "create", name)
    yield name
    users = docker("ps", "-aq", "--filter", f"volume={name}", check=False).stdout.split()
    if users:
        docker("rm", "-f", *users, check=False)
    docker("volume", "rm", "-f", name, check=False)


def start(release: ServiceRelease, containers: list[str], *flags: str) -> int:
    """Run the release detached on a free 127.0.0.1 port, wait until /health is 200; the port."""
    port = free_port()
    name = f"shipflow-test-service-{uuid.uuid4().hex[:8]}"
    containers.append(name)
    publish = f"127.0.0.1:{port}:8000"
    docker("run", "-d", "--name", name, "-p", publish, "-e", "BOOT_SECONDS=0", *flags, release.image)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/health").status == 200:
                return port
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{name} never became healthy:\n{docker('logs', name, check=False).stderr}")


def request(port: int, method: str, path: str, body: str | None = None) -> Reply:
    """One request on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        return exchange(connection, method, path, body)
    finally:
        connection.close()


def exchange(
    connection: http.client.HTTPConnection, method: str, path: str, body: str | None = None
) -> Reply:
    """One request on ``connection`` (kept open for the next one)."""
    connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return Reply(response.status, json.loads(response.read()), response.headers)


def migrate(release: ServiceRelease, volume: str) -> None:
    alembic = ("python3", "-m", "alembic", "upgrade", "head")
    done = docker("run", "--rm", "-v", f"{volume}:/data", "-e", SQLITE_URL, release.image, *alembic)
    assert done.returncode == 0, done.stderr


def test_two_containers_on_one_sqlite_file_write_notes_at_once_without_an_error(
    release: ServiceRelease, containers: list[str], volume: str
) -> None:
    migrate(release, volume)
    ports = [start(release, containers, "-v", f"{volume}:/data", "-e", SQLITE_URL) for _ in range(2)]

    def post_notes(client: int) -> list[int]:
        connection = http.client.HTTPConnection("127.0.0.1", ports[client % 2], timeout=30)
        ids = []
        for n in range(25):
            reply = exchange(connection, "POST", "/notes", json.dumps({"title": f"client {client} note {n}"}))
            assert reply.status == 201, reply.body
            assert reply.body["sha"] == release.sha and reply.headers["X-Release"] == release.sha
            assert isinstance(reply.body["id"], int)
            ids.append(reply.body["id"])
        connection.close()
        return ids

    with ThreadPoolExecutor(max_workers=16) as pool:
        written = sorted(note for ids in pool.map(post_notes, range(16)) for note in ids)
    assert len(set(written)) == len(written) == 16 * 25

    listed = request(ports[1], "GET", "/notes")
    assert listed.status == 200 and listed.body == {"ids": written}
    assert request(ports[0], "GET", f"/notes?after={written[9]}&limit=3").body == {"ids": written[10:13]}
    assert request(ports[0], "GET", f"/notes?after={written[-1]}").body == {"ids": []}
    assert request(ports[0], "GET", "/notes?limit=5000").body == {"ids": written}  # capped at 1000


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/notes", "not json", 400),
        ("POST", "/notes", '{"name": "no title"}', 400),
        ("POST", "/notes", json.dumps({"title": "x" * 201}), 400),
        ("POST", "/notes", '["title"]', 400),
        ("GET", "/notes?after=x", None, 400),
        ("GET", "/notes?limit=0", None, 400),
        ("GET", "/notes?after=-1", None, 400),
        ("GET", "/nowhere", None, 404),
        ("DELETE", "/notes", None, 405),
        ("POST", "/notes", '{"title": "no table yet"}', 503),  # in-memory SQLite: never migrated
        ("GET", "/notes", None, 503),
    ],
)
def test_a_request_it_cannot_serve_is_a_json_error_with_the_release(
    release: ServiceRelease, unmigrated: int, method: str, path: str, body: str | None, status: int
) -> None:
    reply = request(unmigrated, method, path, body)
    assert reply.status == status
    assert isinstance(reply.body["error"], str) and "Traceback" not in reply.body["error"]
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["X-Release"] == release.sha


def test_it_answers_several_requests_on_one_http11_connection(
    release: ServiceRelease, unmigrated: int
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", unmigrated, timeout=10)
    connection.connect()
    sock = connection.sock
    for path in ("/", "/health", "/"):
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        assert response.status == 200 and response.version == 11
        assert response.headers.get("Connection", "").lower() != "close"
        assert response.headers["X-Release"] == release.sha
        assert connection.sock is sock  # the same socket served every request
    connection.close()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("-e", "PORT=eighty"), "service: PORT must be a number, got 'eighty'"),
        (("-e", "DATABASE_URL=nonsense://x"), "service: DATABASE_URL (scheme 'nonsense') is not a database"),
    ],
)
def test_a_settings_error_is_one_line_and_exit_2(
    release: ServiceRelease, flags: tuple[str, ...], message: str
) -> None:
    done = docker("run", "--rm", *flags, release.image, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1


def test_sigterm_under_load_finishes_requests_in_flight_and_exits_0_promptly(
    release: ServiceRelease, containers: list[str]
) -> None:
    port = start(release, containers)
    outcomes: list[tuple[float, bool]] = []  # (when the request started, whether it got its 200)
    stopping = threading.Event()

    def load() -> None:
        while not stopping.is_set():
            started = time.monotonic()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", "/", headers={"Connection": "close"})
                ok = connection.getresponse().status == 200
                connection.close()
            except (OSError, http.client.HTTPException):
                ok = False
            outcomes.append((started, ok))
            if not ok:
                time.sleep(0.05)

    clients = [threading.Thread(target=load) for _ in range(4)]
    for client in clients:
        client.start()
    time.sleep(1.5)
    stop_sent = time.monotonic()
    docker("stop", "--time", "10", containers[-1])
    took = time.monotonic() - stop_sent
    stopping.set()
    for client in clients:
        client.join()

    served_before = [ok for started, ok in outcomes if started < stop_sent]
    assert len(served_before) > 20 and all(served_before)
    assert took < 5, f"docker stop took {took:.1f}s"
    assert docker("inspect", "--format", "{{.State.ExitCode}}", containers[-1]).stdout.strip() == "0"
