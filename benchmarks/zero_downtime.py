"""Zero downtime as a user sees it: blue-green deploys and rollbacks against naive redeploys, all under
continuous load from keep-alive and new-connection clients, reads and writes, through nginx.

For each switch kind (--switch nat, reload or both, each in a throw-away project with free 127.0.0.1
ports and its own nginx), after a first deploy of the example service:

1. wrk -t2 -c16 --latency through nginx for --wrk-seconds with no deploy running (when wrk is installed);
2. an idle phase: --idle-seconds of load, no deploy;
3. under load: N blue-green deploys alternating two releases (bluegreen.deploy), then N rollbacks
   (bluegreen.rollback, each back to the release the other slot keeps);
4. the baseline under the same load: N naive redeploys (stop the serving container, start the next
   release on the same port: what a hand-written deploy script does);
5. every write acknowledged in phases 2-4 (a 201 to POST /notes) is looked up through nginx
   (GET /notes pages): a missing one is a lost write.

The load: --keepalive-workers clients that each keep one HTTP/1.1 connection open and send the next
request on it (browsers, pooled clients; a proxy reload resets them), and --close-workers clients that
open a new connection per request; --write-share of each client's requests are POST /notes, the rest
GET /. A request fails on no answer, a reset or dropped connection, or a status outside 2xx.

Writes benchmarks/results/zero_downtime.json (nat) and benchmarks/results/zero_downtime_reload.json
(reload), and prints as its last lines, one per switch kind with nat last,

    zero_downtime switch=S deploys=N requests=R failed=F keepalive_failed=K baseline_failed=B \
cutover_ms_median=C overhead_s_median=O

deploys: deploys plus rollbacks. requests, failed, keepalive_failed: phase 3 (keepalive_failed: those of
the keep-alive clients). baseline_failed: phase 4. cutover: from the candidate passing its health check
to the new slot serving through nginx (nat: the rule in force, the verify through nginx follows; reload:
the first answer from the new slot through nginx). overhead: a switch's wall time minus image work (the
"image" step) and the service's own boot time (the time its health gate waited). Medians are over the
deploys and rollbacks; the JSON also has them apart, p50/p99 latency per client mode for the idle phase
and phase 3, the first failures, the wrk figures and the lost writes.

Usage: python benchmarks/zero_downtime.py [--deploys N] [--switch nat|reload|both]
       [--keepalive-workers K] [--close-workers C] [--write-share S] [--idle-seconds I]
       [--wrk-seconds W] [--migrate before-switch|off]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the example service's release builder, shared with the e2e tests

from db_support import NEW_MIGRATION  # noqa: E402
from deploy_support import (  # noqa: E402
    MIGRATION_VERSIONS,
    DeployProject,
    ServiceRelease,
    base_image,
    build_release,
    make_project,
    service_context,
)
from support import user_environ  # noqa: E402

from shipflow.deploy import bluegreen, commands, health  # noqa: E402
from shipflow.deploy.bluegreen import Outcome  # noqa: E402
from shipflow.deploy.context import Deployment  # noqa: E402
from shipflow.deploy.releases import release_of_image  # noqa: E402
from shipflow.deploy.session import open_deployment  # noqa: E402
from shipflow.deploy.state import read_state  # noqa: E402
from shipflow.hosts import LocalHost  # noqa: E402
from shipflow.report import Reporter  # noqa: E402
from shipflow.testing.loadgen import KEEPALIVE, LoadGenerator, LoadResult, missing_writes  # noqa: E402

RESULTS_DIR = REPO / "benchmarks" / "results"
RESULTS = {"nat": RESULTS_DIR / "zero_downtime.json", "reload": RESULTS_DIR / "zero_downtime_reload.json"}
SWITCH_ORDER = ("reload", "nat")  # nat's summary line is printed last
WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
LOAD_BOUND_SECONDS = 3600.0


@dataclasses.dataclass(frozen=True)
class Load:
    """The clients every phase runs."""

    keepalive_workers: int
    close_workers: int
    write_share: float

    def generator(self, project: DeployProject) -> LoadGenerator:
        return LoadGenerator(
            f"{project.proxy_url}/",
            workers=self.close_workers,
            keepalive_workers=self.keepalive_workers,
            write_share=self.write_share,
            max_seconds=LOAD_BOUND_SECONDS,
        )


def _quiet(project: DeployProject) -> Deployment:
    opened = open_deployment("local", root=project.root, environ=user_environ())
    return dataclasses.replace(opened, reporter=Reporter(mask=opened.reporter.mask, stream=io.StringIO()))


def _timed(action: str, run: Callable[[Deployment], Outcome], project: DeployProject) -> dict[str, Any]:
    """One deploy or rollback through the engine, timed; its step output is kept quiet. It starts with the
    host at rest, as deploys minutes apart do: the release the last one stops in the background is down
    (back to back, the next run would wait for that shutdown in its "read state" step)."""
    project.containers()  # until the last run's background stop is done
    d = _quiet(project)
    started = time.monotonic()
    outcome = run(d)
    wall = time.monotonic() - started
    image_s = d.reporter.timings.get("image", 0.0)
    boot_s = outcome.health_s or 0.0
    return {
        "action": action,
        "release": outcome.release.sha[:12] if outcome.release.sha else None,
        "wall_s": round(wall, 3),
        "image_s": round(image_s, 3),
        "boot_s": round(boot_s, 3),
        "cutover_ms": round((outcome.cutover_s or 0.0) * 1000, 1),
        "overhead_s": round(wall - image_s - boot_s, 3),
        "steps_s": {name: round(seconds, 3) for name, seconds in d.reporter.timings.items()},
    }


def blue_green_deploy(project: DeployProject, release: ServiceRelease) -> dict[str, Any]:
    return _timed("deploy", lambda d: bluegreen.deploy(d, release_of_image(d.host, release.image)), project)


def migrating_deploy(project: DeployProject, release: ServiceRelease) -> dict[str, Any]:
    """A deploy whose release brings a new migration: the one-off container runs before the switch."""
    return _timed(
        "migrating deploy", lambda d: bluegreen.deploy(d, release_of_image(d.host, release.image)), project
    )


def blue_green_rollback(project: DeployProject) -> dict[str, Any]:
    return _timed("rollback", bluegreen.rollback, project)


def naive_redeploy(project: DeployProject, release: ServiceRelease) -> dict[str, Any]:
    """Stop the serving container and start the new release on the same port; wait until it answers."""
    d = open_deployment("local", root=project.root, environ=user_environ())
    host = LocalHost()
    active = read_state(host, d.settings, d.target).active_state
    assert active is not None, "the blue-green phase leaves a release serving"
    started = time.monotonic()
    host.run(commands.stop_container(active.container, d.target.stop_timeout)).check(host.name)
    host.run(commands.remove_container(active.container)).check(host.name)
    image = release_of_image(host, release.image)
    host.run(commands.run_container(d.settings, d.target, active.slot, image)).check(host.name)
    url = f"http://127.0.0.1:{active.slot.port}{d.settings.health.path}"
    ready = health.wait_healthy(host, url, d.settings.health)
    return {
        "release": release.sha[:12],
        "wall_s": round(time.monotonic() - started, 3),
        "healthy": ready.passed,
    }


def under_load(
    project: DeployProject, load: Load, actions: Sequence[Callable[[], dict[str, Any]]]
) -> tuple[list[dict[str, Any]], LoadResult]:
    with load.generator(project) as running:
        time.sleep(1.0)
        runs = [action() for action in actions]
        time.sleep(1.0)
    return runs, running.result


def idle_load(project: DeployProject, load: Load, seconds: float) -> LoadResult:
    with load.generator(project) as running:
        time.sleep(seconds)
    return running.result


def wrk_ms(text: str) -> float:
    """A wrk duration (``612.00us``, ``1.20ms``, ``2.01s``) in milliseconds."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if found is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return round(float(found[1]) * WRK_UNITS_MS[found[2]], 3)


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests, requests/s, p50/p99 in ms and errors (socket errors, non-2xx/3xx) of ``wrk --latency``."""
    percentiles = dict(re.findall(r"^\s*(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    requests = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", output, re.MULTILINE)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    counts = [int(n) for n in sockets.groups()] if sockets else [0, 0, 0, 0]
    socket_errors = dict(zip(("connect", "read", "write", "timeout"), counts, strict=True))
    non_2xx_count = int(non_2xx[1]) if non_2xx else 0
    return {
        "requests": int(requests[1]) if requests else 0,
        "requests_per_s": float(rate[1]) if rate else 0.0,
        "p50_ms": wrk_ms(percentiles["50"]) if "50" in percentiles else None,
        "p99_ms": wrk_ms(percentiles["99"]) if "99" in percentiles else None,
        "errors": sum(socket_errors.values()) + non_2xx_count,
        "socket_errors": socket_errors,
        "non_2xx_3xx": non_2xx_count,
    }


def run_wrk(url: str, seconds: int) -> dict[str, Any] | None:
    """``wrk -t2 -c16 --latency`` against ``url``, parsed; None when wrk is not installed or seconds is 0."""
    wrk = shutil.which("wrk")
    if wrk is None or seconds <= 0:
        return None
    done = subprocess.run(
        [wrk, "-t2", "-c16", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 60,
    )
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip()[-300:]}
    return parse_wrk(done.stdout)


def phase(result: LoadResult) -> dict[str, Any]:
    """A load phase for the JSON report: totals, acknowledged writes and each client mode."""
    return {
        "requests": result.requests,
        "failed": result.failed,
        "acknowledged_writes": len(result.acknowledged_writes),
        "modes": {name: mode.as_dict() for name, mode in result.modes.items()},
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs) if runs else 0.0


def run_switch(
    switch: str, repository: str, releases: list[ServiceRelease], load: Load, options: argparse.Namespace
) -> dict[str, Any]:
    """The whole sequence for one switch kind in a project of its own; its summary for the JSON."""
    count = options.deploys
    with tempfile.TemporaryDirectory(prefix=f"zero-downtime-{switch}-") as folder:
        project = make_project(Path(folder), repository, migrate=options.migrate, switch=switch)
        try:
            blue_green_deploy(project, releases[1])  # the first release, before any load: starts nginx
            print(f"[{switch}] wrk and {options.idle_seconds:g}s of idle load ...", flush=True)
            wrk = run_wrk(f"{project.proxy_url}/", options.wrk_seconds)
            idle = idle_load(project, load, options.idle_seconds)
            print(
                f"[{switch}] {count} blue-green deploys, then {count} rollbacks, under load ...", flush=True
            )
            order = [releases[i % 2] for i in range(count)]
            actions: list[Callable[[], dict[str, Any]]] = [
                partial(blue_green_deploy, project, r) for r in order
            ]
            actions += [partial(blue_green_rollback, project) for _ in range(count)]
            actions.append(partial(migrating_deploy, project, releases[2]))
            runs, during = under_load(project, load, actions)
            print(f"[{switch}] {count} naive redeploys under load ...", flush=True)
            naive, baseline = under_load(project, load, [partial(naive_redeploy, project, r) for r in order])
            acknowledged = (
                idle.acknowledged_writes + during.acknowledged_writes + baseline.acknowledged_writes
            )
            lost = missing_writes(f"{project.proxy_url}/", acknowledged)
        finally:
            project.tear_down()
    switches = [run for run in runs if run["action"] in ("deploy", "rollback")]
    deploys = [run for run in switches if run["action"] == "deploy"]
    rollbacks = [run for run in switches if run["action"] == "rollback"]
    migrating = [run for run in runs if run["action"] == "migrating deploy"]
    return {
        "switch": switch,
        "deploys": len(switches),
        "requests": during.requests,
        "failed": during.failed,
        "keepalive_failed": during.modes[KEEPALIVE].failed,
        "failures": during.failures,
        "baseline_requests": baseline.requests,
        "baseline_failed": baseline.failed,
        "baseline_failures": baseline.failures[:5],
        "acknowledged_writes": len(acknowledged),
        "lost_writes": len(lost),
        "lost_write_ids": lost[:20],
        "cutover_ms_median": _median(switches, "cutover_ms"),
        "overhead_s_median": _median(switches, "overhead_s"),
        "deploy_cutover_ms_median": _median(deploys, "cutover_ms"),
        "rollback_cutover_ms_median": _median(rollbacks, "cutover_ms"),
        "deploy_overhead_s_median": _median(deploys, "overhead_s"),
        "rollback_overhead_s_median": _median(rollbacks, "overhead_s"),
        "wall_s_median": _median(switches, "wall_s"),
        "migrating_deploy_overhead_s": _median(migrating, "overhead_s"),
        "migrating_deploy_migrate_s": _median([run["steps_s"] for run in migrating], "migrate"),
        "boot_s_median": _median(switches, "boot_s"),
        "naive_wall_s_median": _median(naive, "wall_s"),
        "load": dataclasses.asdict(load),
        "migrate": options.migrate,
        "wrk": wrk,
        "phases": {"idle": phase(idle), "switches": phase(during), "baseline": phase(baseline)},
        "blue_green": runs,
        "naive": naive,
    }


def summary_line(summary: dict[str, Any]) -> str:
    """The one line a run prints per switch kind."""
    return (
        f"zero_downtime switch={summary['switch']} deploys={summary['deploys']} "
        f"requests={summary['requests']} failed={summary['failed']} "
        f"keepalive_failed={summary['keepalive_failed']} baseline_failed={summary['baseline_failed']} "
        f"cutover_ms_median={summary['cutover_ms_median']:.0f} "
        f"overhead_s_median={summary['overhead_s_median']:.2f}"
    )


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deploys", type=int, default=10, help="deploys, and as many rollbacks (default 10)")
    parser.add_argument(
        "--switch",
        choices=("nat", "reload", "both"),
        default="both",
        help="how nginx moves traffic (default both)",
    )
    parser.add_argument("--keepalive-workers", type=int, default=8, help="keep-alive clients (default 8)")
    parser.add_argument("--close-workers", type=int, default=8, help="new-connection clients (default 8)")
    parser.add_argument(
        "--write-share", type=float, default=0.2, help="share of requests that are POST /notes (default 0.2)"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=5.0, help="load before the first deploy (default 5)"
    )
    parser.add_argument(
        "--wrk-seconds", type=int, default=30, help="wrk run with no deploy (default 30; 0 skips it)"
    )
    parser.add_argument(
        "--migrate",
        choices=("before-switch", "off"),
        default="before-switch",
        help="the deploy's migration step (default before-switch, shipflow's default); off measures the "
        "blue-green engine alone",
    )
    options = parser.parse_args(argv)
    if options.deploys < 1:
        parser.error("--deploys is at least 1")
    if not 0.0 <= options.write_share <= 1.0:
        parser.error("--write-share is between 0 and 1")
    return options


def main() -> None:
    options = parse_options()
    switches = [s for s in SWITCH_ORDER if options.switch in (s, "both")]
    load = Load(options.keepalive_workers, options.close_workers, options.write_share)
    repository = f"shipflow-bench-{uuid.uuid4().hex[:6]}"
    base = base_image()
    releases = [build_release(repository, name, base) for name in ("a", "b")]
    new_migration = {f"{MIGRATION_VERSIONS}/0004_add_tags.py": NEW_MIGRATION.encode()}
    releases.append(build_release(repository, "c", base, service_context(new_migration)))
    summaries: list[dict[str, Any]] = []
    try:
        for switch in switches:
            summary = run_switch(switch, repository, releases, load, options)
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            RESULTS[switch].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            print(
                f"[{switch}] a deploy that migrates (0003 -> 0004): overhead "
                f"{summary['migrating_deploy_overhead_s']:.2f}s, of which the migration "
                f"{summary['migrating_deploy_migrate_s']:.2f}s",
                flush=True,
            )
            print(
                f"[{switch}] acknowledged writes: {summary['acknowledged_writes']}, lost: "
                f"{summary['lost_writes']} {summary['lost_write_ids'] or ''}; "
                f"results: {RESULTS[switch].relative_to(REPO)}",
                flush=True,
            )
            summaries.append(summary)
    finally:
        LocalHost().run(["docker", "rmi", "--force", *(r.image for r in releases)])
    for summary in summaries:
        print(summary_line(summary))


if __name__ == "__main__":
    main()
