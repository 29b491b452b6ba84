"""Load on the example service the way its clients use it: mostly reads, some writes.

`inv gate.load --env ENV` runs it headless against ENV's public URL. Each simulated user pauses a little
between requests, as a client does; of ten requests about five read the index, two read the latest
notes, two write a note and one asks for health.
"""

from __future__ import annotations

import uuid

from locust import HttpUser, between, task


class ServiceClient(HttpUser):
    """One client of the service; it reads back around the notes it wrote."""

    wait_time = between(0.05, 0.25)
    last_note_id = 0

    @task(5)
    def index(self) -> None:
        self.client.get("/")

    @task(2)
    def latest_notes(self) -> None:
        after = max(0, self.last_note_id - 20)
        self.client.get(f"/notes?after={after}&limit=50", name="/notes?after=ID&limit=50")

    @task(2)
    def write_note(self) -> None:
        with self.client.post(
            "/notes", json={"title": f"load {uuid.uuid4().hex}"}, catch_response=True
        ) as response:
            if response.status_code != 201:
                response.failure(f"expected 201, got {response.status_code}")
                return
            self.last_note_id = int(response.json()["id"])

    @task(1)
    def health(self) -> None:
        self.client.get("/health")
