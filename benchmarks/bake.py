"""How fast a bake window catches a bad release and puts traffic back, as a client sees it.

In a throw-away project (free 127.0.0.1 ports, its own nginx, the NAT switch where permitted) the example
service's good release is deployed, then, --runs times, a release whose ``GET /`` answers 500 for
--fail-ratio of requests (the example's test knob ``FAIL_RATIO``; its /health stays 200) is deployed with a
bake window of --window seconds, under continuous load from keep-alive and new-connection clients (a fifth
of their requests writes). Each run is expected to end reverted.

A watcher beside the load sends ``GET /`` on a new connection every 20 ms and notes which release answered
when. Detection, per run: from the first answer of the bad release (the breach starts with its first
request) to the last one (from then on traffic is back on the old release), as the watcher saw it; the
engine's own figure (the switch in force -> the rule back, ``reverted_after_s`` in the audit record) is
kept beside it. revert_failed counts the requests that got no answer (a reset, a 502): the ones switching
would cost; the bad release's own 500s are expected and counted apart.

Writes benchmarks/results/bake.json; the last line is

    bake detect_s_median=D revert_failed=F

Usage: python benchmarks/bake.py [--runs N] [--window S] [--fail-ratio R] [--keepalive-workers K]
       [--close-workers C]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the example service's release builders, shared with the e2e tests

from deploy_support import (  # noqa: E402
    DeployProject,
    ServiceRelease,
    base_image,
    build_release,
    build_variant,
    fetch,
    make_project,
)
from support import user_environ  # noqa: E402

from shipflow.deploy import audit, baking, bluegreen, commands  # noqa: E402
from shipflow.deploy.context import Deployment  # noqa: E402
from shipflow.deploy.releases import release_of_image  # noqa: E402
from shipflow.deploy.session import open_deployment  # noqa: E402
from shipflow.hosts import LocalHost  # noqa: E402
from shipflow.report import Reporter  # noqa: E402
from shipflow.testing.loadgen import NO_ANSWER, LoadGenerator  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "bake.json"
WATCH_EVERY_S = 0.02


class Watcher:
    """``GET /`` on a new connection every 20 ms; when each release answered (monotonic seconds)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                _, headers, _ = fetch(self.url)
                self.seen.append((time.monotonic(), headers.get("X-Release", "?")))
            except OSError:
                self.seen.append((time.monotonic(), NO_ANSWER))
            time.sleep(WATCH_EVERY_S)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def span_of(self, sha: str) -> float | None:
        """Seconds from the first to the last answer of release ``sha``; None when it never answered."""
        times = [at for at, release in self.seen if release == sha]
        return round(times[-1] - times[0], 3) if times else None


def _quiet(project: DeployProject, window: float) -> Deployment:
    opened = open_deployment("local", root=project.root, environ=user_environ())
    reporter = Reporter(mask=opened.reporter.mask, stream=io.StringIO())
    return dataclasses.replace(opened, reporter=reporter, bake_window=window)


def one_run(project: DeployProject, bad: ServiceRelease, options: argparse.Namespace) -> dict[str, Any]:
    """Deploy the bad release under load and watch it being reverted."""
    project.containers()  # the last run's background work is done
    d = _quiet(project, options.window)
    release = release_of_image(d.host, bad.image)
    load = LoadGenerator(
        f"{project.proxy_url}/",
        workers=options.close_workers,
        keepalive_workers=options.keepalive_workers,
        write_share=0.2,
        max_seconds=300,
    )
    outcome = "deployed"
    with load, Watcher(f"{project.proxy_url}/") as watcher:
        time.sleep(0.5)
        started = time.monotonic()
        try:
            bluegreen.deploy(d, release)
        except baking.Reverted:
            outcome = "reverted"
        wall = time.monotonic() - started
        time.sleep(0.5)
    last = audit.read(d.host, commands.audit_log_path(d.target))[-1]
    bake = last.extra.get("bake", {})
    result = load.result
    return {
        "outcome": outcome,
        "detect_s": watcher.span_of(bad.sha),
        "engine_reverted_after_s": bake.get("reverted_after_s"),
        "breach": bake.get("breach"),
        "new": bake.get("new"),
        "wall_s": round(wall, 3),
        "requests": result.requests,
        "failed": result.failed,
        "failed_by": dict(result.failed_by),
        "no_answer": result.failed_by.get(NO_ANSWER, 0),
        "watcher_no_answer": sum(1 for _, seen in watcher.seen if seen == NO_ANSWER),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--fail-ratio", type=float, default=0.2)
    parser.add_argument("--keepalive-workers", type=int, default=4)
    parser.add_argument("--close-workers", type=int, default=2)
    options = parser.parse_args()

    repository = f"shipflow-bake-bench-{uuid.uuid4().hex[:6]}"
    base = base_image()
    good = build_release(repository, "good", base)
    bad = build_variant(repository, good, "failing", {"FAIL_RATIO": str(options.fail_ratio)})
    runs: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            project = make_project(Path(folder), repository, deploy_timeout=30.0)
            try:
                done = project.deploy(good)
                if done.returncode != 0:
                    raise SystemExit(f"the first deploy failed:\n{done.stdout}{done.stderr}")
                for index in range(options.runs):
                    run = one_run(project, bad, options)
                    runs.append(run)
                    print(
                        f"run {index + 1}: {run['outcome']}, detected in {run['detect_s']} s (engine "
                        f"{run['engine_reverted_after_s']} s), {run['breach']}; {run['requests']} requests, "
                        f"failed by release {run['failed_by']}",
                        flush=True,
                    )
            finally:
                project.tear_down()
    finally:
        LocalHost().run(["docker", "rmi", "--force", good.image, bad.image])
    detected = [run["detect_s"] for run in runs if run["detect_s"] is not None]
    summary = {
        "runs": runs,
        "window_s": options.window,
        "fail_ratio": options.fail_ratio,
        "reverted": sum(1 for run in runs if run["outcome"] == "reverted"),
        "detect_s_median": round(statistics.median(detected), 3) if detected else None,
        "engine_reverted_after_s_median": statistics.median(
            run["engine_reverted_after_s"] for run in runs if run["engine_reverted_after_s"] is not None
        )
        if any(run["engine_reverted_after_s"] is not None for run in runs)
        else None,
        "revert_failed": sum(run["no_answer"] for run in runs),
        "bad_release_500s": sum(run["failed"] - run["no_answer"] for run in runs),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"results: {RESULTS.relative_to(REPO)}")
    print(f"bake detect_s_median={summary['detect_s_median']} revert_failed={summary['revert_failed']}")


if __name__ == "__main__":
    main()
