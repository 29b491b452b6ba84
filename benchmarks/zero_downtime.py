"""Blue-green deploys against naive redeploys, both under continuous load through nginx.

Against the local target of a throw-away project (free 127.0.0.1 ports, its own nginx), runs N blue-green
deploys in a row, alternating two releases of the example service, while workers send requests through
nginx; then, in the same run, N naive redeploys of the same releases (stop the old container, start the
new one on the same port: the manual process a deploy script does) under the same load. Writes
benchmarks/results/zero_downtime.json and prints as its last line

    zero_downtime deploys=N requests=R failed=F baseline_failed=B cutover_ms_median=C overhead_s_median=O

cutover: from the candidate passing its health check to nginx serving it (checked through nginx).
overhead: a deploy's wall time minus image work (the "image" step) and the service's own boot time (the
time its health gate waited).

Usage: python benchmarks/zero_downtime.py [--deploys N] [--workers W] [--migrate before-switch|off]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the example service's release builder, shared with the e2e tests

from deploy_support import DeployProject, ServiceRelease, base_image, build_release, make_project  # noqa: E402
from support import user_environ  # noqa: E402

from shipflow.deploy import bluegreen, commands, health  # noqa: E402
from shipflow.deploy.releases import release_of_image  # noqa: E402
from shipflow.deploy.session import open_deployment  # noqa: E402
from shipflow.deploy.state import read_state  # noqa: E402
from shipflow.hosts import LocalHost  # noqa: E402
from shipflow.report import Reporter  # noqa: E402
from shipflow.testing.loadgen import LoadGenerator, LoadResult  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "zero_downtime.json"


def blue_green_deploy(project: DeployProject, release: ServiceRelease) -> dict[str, Any]:
    """One real deploy through the engine, timed; its step output is kept quiet."""
    opened = open_deployment("local", root=project.root, environ=user_environ())
    d = dataclasses.replace(opened, reporter=Reporter(mask=opened.reporter.mask, stream=io.StringIO()))
    started = time.monotonic()
    outcome = bluegreen.deploy(d, release_of_image(d.host, release.image))
    wall = time.monotonic() - started
    image_s = d.reporter.timings.get("image", 0.0)
    boot_s = outcome.health_s or 0.0
    return {
        "release": release.sha[:12],
        "wall_s": round(wall, 3),
        "image_s": round(image_s, 3),
        "boot_s": round(boot_s, 3),
        "cutover_ms": round((outcome.cutover_s or 0.0) * 1000, 1),
        "overhead_s": round(wall - image_s - boot_s, 3),
        "steps_s": {name: round(seconds, 3) for name, seconds in d.reporter.timings.items()},
    }


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
    project: DeployProject, workers: int, deploys: list[Callable[[], dict[str, Any]]]
) -> tuple[list[dict[str, Any]], LoadResult]:
    with LoadGenerator(f"{project.proxy_url}/", workers=workers, max_seconds=1800) as load:
        time.sleep(1.0)
        runs = [deploy() for deploy in deploys]
        time.sleep(1.0)
    return runs, load.result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deploys", type=int, default=10, help="deploys of each kind (at least 10)")
    parser.add_argument("--workers", type=int, default=4, help="concurrent request loops (default 4)")
    parser.add_argument(
        "--migrate",
        choices=("before-switch", "off"),
        default="before-switch",
        help="the deploy's migration step (default before-switch, shipflow's default); off measures the "
        "blue-green engine alone",
    )
    options = parser.parse_args()
    count = max(10, options.deploys)
    repository = f"shipflow-bench-{uuid.uuid4().hex[:6]}"
    base = base_image()
    releases = [build_release(repository, name, base) for name in ("a", "b")]
    with tempfile.TemporaryDirectory(prefix="zero-downtime-") as folder:
        project = make_project(Path(folder), repository, migrate=options.migrate)
        try:
            blue_green_deploy(project, releases[1])  # the first release, before any load: starts nginx
            order = [releases[i % 2] for i in range(count)]
            print(f"{count} blue-green deploys under load ...", flush=True)
            deploys, load = under_load(
                project, options.workers, [partial(blue_green_deploy, project, r) for r in order]
            )
            print(f"{count} naive redeploys under load ...", flush=True)
            naive, baseline = under_load(
                project, options.workers, [partial(naive_redeploy, project, r) for r in order]
            )
        finally:
            project.tear_down()
            LocalHost().run(["docker", "rmi", "--force", *(r.image for r in releases)])
    summary = {
        "deploys": count,
        "requests": load.requests,
        "failed": load.failed,
        "failures": load.failures,
        "baseline_requests": baseline.requests,
        "baseline_failed": baseline.failed,
        "baseline_failures": baseline.failures[:5],
        "cutover_ms_median": statistics.median(run["cutover_ms"] for run in deploys),
        "overhead_s_median": statistics.median(run["overhead_s"] for run in deploys),
        "wall_s_median": statistics.median(run["wall_s"] for run in deploys),
        "boot_s_median": statistics.median(run["boot_s"] for run in deploys),
        "naive_wall_s_median": statistics.median(run["wall_s"] for run in naive),
        "workers": options.workers,
        "migrate": options.migrate,
        "blue_green": deploys,
        "naive": naive,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"results: {RESULTS.relative_to(REPO)}")
    print(
        f"zero_downtime deploys={count} requests={load.requests} failed={load.failed} "
        f"baseline_failed={baseline.failed} cutover_ms_median={summary['cutover_ms_median']:.0f} "
        f"overhead_s_median={summary['overhead_s_median']:.2f} migrate={options.migrate}"
    )


if __name__ == "__main__":
    main()
