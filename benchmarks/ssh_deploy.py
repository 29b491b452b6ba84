"""How long a production deploy of a new commit takes over SSH, and what it spends beyond moving the image
and booting the service.

The example service is deployed with ``inv deploy.prod --yes`` (build HEAD here, stream it over SSH, blue-
green on the server) to a network-namespace server with its own docker engine, sshd and nginx, behind a
balancer on 127.0.0.1 (tests/shipped_support.py). After a first deploy, each run commits a code-only
change, pushes it and deploys it: idle, then under load (keep-alive and new-connection clients, reads and
writes, through the balancer).

Per deploy: wall time of the whole command; ``image`` (the transfer) and ``health`` (the service's boot)
from the audit record's steps; overhead = wall - image - health; the bytes sent. The last line:

    ssh_deploy overhead_s_median=O sent_bytes_code_only=S wall_s_median=W

(O and W idle; the same figures under load are in the JSON and the line before it). Results:
benchmarks/results/ssh_deploy.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the namespace server and the shipped example service

from shipped_support import Shipped, example_service_shipped  # noqa: E402

from shipflow.testing.loadgen import LoadGenerator  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "ssh_deploy.json"


def last_record(shipped: Shipped) -> dict[str, Any]:
    done = shipped.shipflow("deploy.audit", "--env", "production", "--json", "-n", "1")
    (record,) = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return dict(record)


def at_rest(shipped: Shipped, app: str) -> None:
    """Until one release of ``app`` runs on the server: the one the last deploy stopped in the background
    is down, as it is between deploys minutes apart."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = shipped.server.docker("ps", "--quiet", "--filter", f"label=shipflow.app={app}")
        if len(running.stdout.split()) <= 1:
            return
        time.sleep(0.2)


def deploy_commit(shipped: Shipped, app: str, index: int) -> dict[str, Any]:
    """Commit a code-only change, push it, deploy it (the server at rest); the figures of that deploy."""
    at_rest(shipped, app)
    note = shipped.root / "examples" / "service" / "app" / "release_note.py"
    marker = f"ssh_deploy run {index} {uuid.uuid4()}"
    note.write_text(f'"""Which benchmark commit this is."""\n\nNOTE = "{marker}"\n')
    sha = shipped.commit_and_push(f"benchmark commit {index}")
    started = time.monotonic()
    done = shipped.shipflow("deploy.prod", "--yes")
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"deploy {index} failed:\n{done.stdout}\n{done.stderr}")
    record = last_record(shipped)
    steps = record["extra"]["steps"]
    image_s, boot_s = float(steps.get("image", 0.0)), float(steps.get("health", 0.0))
    return {
        "sha": sha[:12],
        "wall_s": round(wall, 3),
        "image_s": image_s,
        "boot_s": boot_s,
        "overhead_s": round(wall - image_s - boot_s, 3),
        "sent_bytes": record["extra"].get("transfer_bytes"),
        "skipped_bytes": record["extra"].get("transfer_skipped_bytes"),
        "steps_s": steps,
        "served": shipped.served_sha() == sha,
    }


def median(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(float(run[key]) for run in runs), 3)


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "deploys": len(runs),
        "overhead_s_median": median(runs, "overhead_s"),
        "wall_s_median": median(runs, "wall_s"),
        "image_s_median": median(runs, "image_s"),
        "boot_s_median": median(runs, "boot_s"),
        "sent_bytes_median": int(median(runs, "sent_bytes")),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--deploys", type=int, default=5, help="code-only deploys idle, and as many under load (default 5)"
    )
    options = parser.parse_args()
    if options.deploys < 1:
        parser.error("--deploys is at least 1")
    app, repository = f"sfbench-{uuid.uuid4().hex[:6]}", f"shipflow-sshbench-{uuid.uuid4().hex[:6]}"
    with (
        tempfile.TemporaryDirectory() as folder,
        example_service_shipped(Path(folder), app=app, repository=repository) as shipped,
    ):
        first = shipped.shipflow("deploy.prod", "--yes")
        if first.returncode != 0:
            raise SystemExit(f"the first deploy failed:\n{first.stdout}\n{first.stderr}")
        first_record = last_record(shipped)
        idle = [deploy_commit(shipped, app, index) for index in range(options.deploys)]
        with LoadGenerator(
            f"{shipped.balancer.url}/", workers=4, keepalive_workers=4, write_share=0.2, max_seconds=900
        ) as load:
            time.sleep(1.0)
            loaded = [
                deploy_commit(shipped, app, options.deploys + index) for index in range(options.deploys)
            ]
            time.sleep(0.5)
    result = {
        "first_deploy": {
            "sent_bytes": first_record["extra"].get("transfer_bytes"),
            "steps_s": first_record["extra"]["steps"],
        },
        "idle": summary(idle),
        "under_load": summary(loaded),
        "load": {
            "requests": load.result.requests,
            "failed": load.result.failed,
            "failures": load.result.failures[:5],
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    under = result["under_load"]
    print(
        f"under load: overhead_s_median={under['overhead_s_median']:.2f} wall_s_median="
        f"{under['wall_s_median']:.2f} requests={load.result.requests} failed={load.result.failed}"
    )
    print(
        f"ssh_deploy overhead_s_median={result['idle']['overhead_s_median']:.2f} "
        f"sent_bytes_code_only={result['idle']['sent_bytes_median']} "
        f"wall_s_median={result['idle']['wall_s_median']:.2f}"
    )


if __name__ == "__main__":
    main()
