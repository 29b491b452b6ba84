"""Hosts of a --parallel rollout take each canary step together: the meeting point itself (threads), and two
scripted servers rolled out at once, one of them with a release that breaches."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest
from scripted_host import RELEASES, ScriptedHost, deployment, make_host

from shipflow.deploy import bluegreen, fleet
from shipflow.deploy.lockstep import AnotherHostFailed, Lockstep
from shipflow.deploy.rollout import deploy_one, in_lockstep

pytestmark = pytest.mark.unit

WATCHED = "\n[bake]\nmin_requests = 1\n[canary]\nstep_seconds = 0.1\n"


def run_hosts(count: int, body: list[object]) -> list[BaseException | None]:
    """Run ``body[i]`` (a callable) in one thread per host; each thread's exception, if any."""
    errors: list[BaseException | None] = [None] * count

    def one(index: int) -> None:
        try:
            body[index]()  # type: ignore[operator]
        except BaseException as error:
            errors[index] = error

    threads = [threading.Thread(target=one, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return errors


def test_no_host_starts_a_step_before_every_host_is_ready_for_it() -> None:
    together, events = Lockstep(3), []
    lock = threading.Lock()

    def host(name: str) -> None:
        for step in (1, 2):
            together.meet(timeout=5)
            with lock:
                events.append((step, name))

    assert run_hosts(3, [lambda n=n: host(n) for n in "abc"]) == [None, None, None]
    assert [step for step, _ in events] == [1, 1, 1, 2, 2, 2]  # every host's step 1 before any step 2


def test_a_host_that_fails_sends_the_waiting_ones_and_the_late_ones_back() -> None:
    together = Lockstep(3)
    waiting = threading.Event()

    def waiter() -> None:
        waiting.set()
        together.meet(timeout=5)

    def failing() -> None:
        waiting.wait(5)
        together.fail()

    errors = run_hosts(2, [waiter, failing])

    assert isinstance(errors[0], AnotherHostFailed) and errors[1] is None
    with pytest.raises(AnotherHostFailed, match="another host"):
        together.meet(timeout=5)


def test_a_host_that_leaves_is_not_waited_for_and_a_missing_one_is_given_up_on() -> None:
    together = Lockstep(2)
    errors = run_hosts(2, [lambda: together.meet(timeout=5), together.leave])
    assert errors == [None, None]

    alone = Lockstep(2)
    with pytest.raises(AnotherHostFailed, match=r"did not reach the canary step within 0\.05 s"):
        alone.meet(timeout=0.05)


def servers(tmp_path: Path) -> list[ScriptedHost]:
    hosts = []
    for name in ("web-1", "web-2"):
        folder = tmp_path / name
        folder.mkdir()
        hosts.append(make_host(folder, WATCHED))
    return hosts


def test_in_a_parallel_canary_a_breach_on_one_host_sends_every_host_back(tmp_path: Path) -> None:
    hosts = servers(tmp_path)
    for host in hosts:
        bluegreen.deploy(deployment(host), RELEASES["v1"])
    hosts[1].failing.add("demo:v2")  # its share of v2 breaches; the other host's v2 does well
    runs = [dataclasses.replace(deployment(host), canary_steps=(10, 50)) for host in hosts]

    result = fleet.run_fleet(in_lockstep(runs, 2), lambda d: deploy_one(d, RELEASES["v2"]), parallel=2)

    assert all(entry.error is not None for entry in result.results)
    assert isinstance(result.results[0].error, AnotherHostFailed)
    for host in hosts:
        assert not host.weighted and host.serving_image() == "demo:v1"
        assert "demo-local-green" not in host.containers


def test_in_a_parallel_canary_good_releases_go_to_100_percent_everywhere(tmp_path: Path) -> None:
    hosts = servers(tmp_path)
    for host in hosts:
        bluegreen.deploy(deployment(host), RELEASES["v1"])
    runs = [dataclasses.replace(deployment(host), canary_steps=(10, 50)) for host in hosts]

    result = fleet.run_fleet(in_lockstep(runs, 2), lambda d: deploy_one(d, RELEASES["v2"]), parallel=2)

    assert result.first_error is None
    assert [host.serving_image() for host in hosts] == ["demo:v2", "demo:v2"]
    assert in_lockstep(runs, 1) == tuple(runs)  # one host at a time: no lockstep
