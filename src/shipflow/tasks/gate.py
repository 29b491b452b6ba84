"""``inv gate.integration`` and ``inv gate.load``: checks a deployed environment must pass.

Each task resolves the environment's public URL, runs one gate of :mod:`shipflow.gates` and prints what it
returns. Exit codes: 0 the gate passed; 1 it failed (tests failed, a threshold broken, the URL does not
answer); 2 bad input (an unknown environment, a bad flag or setting, Locust not installed). The
integration gate exits with pytest's own code.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.exceptions import Exit
from invoke.tasks import task

from shipflow.errors import exit_codes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from invoke.context import Context

    from shipflow.gates.outcome import GateOutcome
    from shipflow.gates.target import GateTarget

ENV_HELP = "environment to test: staging, production, local, ... (default: $APP_ENV, $ENV, development)"
LOAD_HELP = {
    "env": ENV_HELP,
    "users": "COUNT of simulated users (default: [tool.shipflow.gates.load] users, else 10)",
    "spawn-rate": "users started per second (default: spawn_rate, else 10)",
    "run-time": "whole SECONDS of load (default: run_time, else 30)",
    "max-fail-ratio": "share of failed requests allowed, 0 to 1 (default: max_fail_ratio, else 0.01)",
    "max-p95-ms": "95th percentile response time allowed, in ms (default: max_p95_ms, else 500)",
    "min-rps": "requests per second the run must reach (default: min_rps, else 0)",
    "locustfile": "the locustfile to run (default: locustfile, else locustfile.py)",
}


def _print(line: str) -> None:
    print(line, flush=True)


@contextmanager
def _recording(target: GateTarget, task: str) -> Iterator[Callable[[GateOutcome], None]]:
    """The environment's hosts, open while the gate runs (its errors end the task with one masked line and
    their exit code): the image live on each when it starts, and a function that records the gate's
    outcome against it there (for `inv deploy.promote`)."""
    from shipflow.deploy.lock import Actor
    from shipflow.deploy.session import open_session
    from shipflow.gates.records import live_image_ids, record_outcome

    with exit_codes(task, target.mask):
        session = open_session(target.environment, root=target.root)
    try:
        with exit_codes(task, target.mask):
            before = live_image_ids(session)
            actor = Actor.current(task)

            def record(outcome: GateOutcome) -> None:
                for line in record_outcome(session, outcome, before, f"{actor.user}@{actor.machine}"):
                    _print(target.mask(line))

            yield record
    finally:
        session.close()


@task(help={"env": ENV_HELP})
def integration(c: Context, env: str | None = None) -> None:
    """Run the `integration` test group against the environment's public URL (fixture `base_url`,
    variable SHIPFLOW_BASE_URL), JUnit XML to reports/integration-ENV.xml; exits with pytest's code.
    Arguments after `--` go to pytest, e.g. `inv gate.integration --env staging -- -x`."""
    from shipflow.gates.integration import run_integration_gate, summary_line
    from shipflow.gates.target import gate_target
    from shipflow.tasks.badflags import remainder_words

    with exit_codes("gate.integration"):
        target = gate_target(env)
    with _recording(target, "gate.integration") as record:
        outcome, code = run_integration_gate(
            target, environ=os.environ, on_line=_print, extra=remainder_words(c.config)
        )
        record(outcome)
    _print(summary_line(outcome, code))
    if code != 0:
        raise Exit(code=code)


@task(help=LOAD_HELP)
def load(
    c: Context,
    env: str | None = None,
    users: str | None = None,
    spawn_rate: str | None = None,
    run_time: str | None = None,
    max_fail_ratio: str | None = None,
    max_p95_ms: str | None = None,
    min_rps: str | None = None,
    locustfile: str | None = None,
) -> None:
    """Send Locust's load (headless, the project's locustfile) to the environment's public URL, a progress
    line every few seconds; then the figures (requests, failures, p50/p95/p99, rps), one line per
    threshold, HTML and JSON reports in reports/. Exit 1 names each threshold broken."""
    from shipflow.gates.load import run_load_gate, verdict
    from shipflow.gates.settings import load_settings, with_flags
    from shipflow.gates.target import gate_target

    flags = {"users": users, "spawn_rate": spawn_rate, "run_time": run_time, "max_fail_ratio": max_fail_ratio,
             "max_p95_ms": max_p95_ms, "min_rps": min_rps, "locustfile": locustfile}  # fmt: skip
    with exit_codes("gate.load"):
        target = gate_target(env)
        settings = with_flags(load_settings(target.project), flags)
    with _recording(target, "gate.load") as record:
        outcome = run_load_gate(target, settings, environ=os.environ, on_line=_print)
        record(outcome)
        _print(verdict(outcome))


namespace = Collection("gate")
namespace.add_task(integration)
namespace.add_task(load)
