"""The example service's API as a client sees it through the deployed environment's public URL.

These tests belong to the ``integration`` group, off in tests_config.yaml: `inv gate.integration --env ENV`
runs them against ENV (the ``base_url`` fixture is its public URL). Every request opens a new connection
and only ever writes notes of its own.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.integration

TIMEOUT = 10.0


def call(method: str, url: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    """Status, headers and decoded JSON body of one request (an error status is an answer too)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (the URL under test)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def test_the_index_names_the_release_that_answers(base_url: str) -> None:
    status, headers, body = call("GET", f"{base_url}/")

    assert status == 200
    assert {"environment", "version", "sha", "hostname"} <= set(body)
    assert headers["X-Release"] == body["sha"]
    assert headers["Content-Type"] == "application/json"


def test_health_is_ok_and_names_the_same_release(base_url: str) -> None:
    _, _, index = call("GET", f"{base_url}/")
    status, _, body = call("GET", f"{base_url}/health")

    assert status == 200
    assert body == {"status": "ok", "version": index["version"], "sha": index["sha"]}


def test_a_note_written_is_committed_and_listed(base_url: str) -> None:
    title = f"integration {uuid.uuid4().hex}"

    status, _, created = call("POST", f"{base_url}/notes", {"title": title})
    listed_status, _, listed = call("GET", f"{base_url}/notes?after={created['id'] - 1}&limit=1")

    assert status == 201 and isinstance(created["id"], int)
    assert listed_status == 200 and listed == {"ids": [created["id"]]}


@pytest.mark.parametrize("body", [{"title": ""}, {"title": "x" * 201}, {"name": "no title"}, ["title"]])
def test_a_note_without_a_proper_title_is_refused_with_400(base_url: str, body: Any) -> None:
    status, _, answer = call("POST", f"{base_url}/notes", body)

    assert status == 400
    assert "title" in answer["error"]


def test_an_unknown_path_and_a_wrong_method_answer_json(base_url: str) -> None:
    missing, _, missing_body = call("GET", f"{base_url}/no-such-path-{uuid.uuid4().hex[:8]}")
    wrong, headers, wrong_body = call("DELETE", f"{base_url}/notes")

    assert missing == 404 and "no route" in missing_body["error"]
    assert wrong == 405 and "DELETE" in wrong_body["error"]
    assert "POST" in headers["Allow"]
