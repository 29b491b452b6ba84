"""How much slower `inv --list` starts in this repository than on a bare one-task tasks.py.

Runs both interleaved (so machine noise hits both alike), at least 10 times each, and prints the medians
and their ratio as the last line:

    cli_startup ratio=R shipflow_ms=A bare_ms=B

Usage: python benchmarks/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BARE_TASKS = '''from invoke import task


@task
def hello(c):
    """Say hello."""
    print("hello")
'''


def inv_command() -> list[str]:
    """`inv` from the same environment as this interpreter, else from PATH."""
    beside = Path(sys.executable).with_name("inv")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("inv")
    if found is None:
        sys.exit("inv is not installed: run `bash scripts/setup.sh` or `pip install -e '.[dev]'`")
    return [found]


def time_list(inv: list[str], cwd: Path) -> float:
    """Milliseconds for one `inv --list` in ``cwd``; a failing run is an error, not a figure."""
    started = time.perf_counter()
    done = subprocess.run([*inv, "--list"], cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        sys.exit(f"`inv --list` failed in {cwd}:\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="runs of each (at least 10; default 15)")
    runs = max(10, parser.parse_args().runs)
    inv = inv_command()
    with tempfile.TemporaryDirectory(prefix="cli-startup-bare-") as bare_dir:
        bare = Path(bare_dir)
        (bare / "tasks.py").write_text(BARE_TASKS, encoding="utf-8")
        time_list(inv, REPO)  # warm the file cache and bytecode for both before measuring
        time_list(inv, bare)
        shipflow_ms, bare_ms = [], []
        for _ in range(runs):
            shipflow_ms.append(time_list(inv, REPO))
            bare_ms.append(time_list(inv, bare))
    shipflow_median = statistics.median(shipflow_ms)
    bare_median = statistics.median(bare_ms)
    print(f"runs={runs} shipflow_ms={sorted(round(x) for x in shipflow_ms)}")
    print(f"runs={runs} bare_ms={sorted(round(x) for x in bare_ms)}")
    print(
        f"cli_startup ratio={shipflow_median / bare_median:.3f} "
        f"shipflow_ms={shipflow_median:.1f} bare_ms={bare_median:.1f}"
    )


if __name__ == "__main__":
    main()
