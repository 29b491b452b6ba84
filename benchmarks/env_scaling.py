"""How env checking and masking scale with the input's size: each case at two sizes, their medians and
the ratio between them (about the size ratio when time is linear, its square when quadratic).

Cases, each run in this process through what `inv env.check` does (load, validate, mask every line):

- one_value: one value of N bytes under a non-secret key, with URL-like and ``${`` noise in it;
- many_lines: N lines of KEY=value, one in ten a secret, one in ten a URL with a password;
- oversized: a 5 MB env file (refused unread: the time is the refusal's).

Prints one line per case:

    env_scaling CASE small=N1 small_ms=A large=N2 large_ms=B ratio=R

Usage: python benchmarks/env_scaling.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from shipflow.env.check import EnvReport, report_lines, secrets_of, show_rows, table
from shipflow.env.files import load_env
from shipflow.env.masking import mask
from shipflow.env.schema import EnvSchema, KeySpec, validate

SCHEMA = EnvSchema(keys=(KeySpec("PORT", type="int"), KeySpec("DATABASE_URL", type="url")))


def one_value(size: int) -> str:
    unit = "a:b/c@${x:y https://t@h:1/p password=q "
    return "SECRET_KEY=k" + "0" * 40 + "\nPORT=" + (unit * (size // len(unit) + 1))[:size] + "\n"


def many_lines(count: int) -> str:
    lines = []
    for number in range(count):
        if number % 10 == 0:
            lines.append(f"API_{number}_TOKEN=tok-{number:08d}-secret")
        elif number % 10 == 1:
            lines.append(f"DB_{number}_URL=postgresql://app:pw{number:08d}@db{number}/app")
        else:
            lines.append(f"SETTING_{number}=value number {number} ${{SETTING_{number - 1}:-x}}")
    return "\n".join(lines) + "\n"


def check(root: Path) -> int:
    """What `inv env.check --env test` and `inv env.show --env test` compute for ``root``; the number of
    characters they would print."""
    load = load_env(root, "test")
    secrets = secrets_of([load], SCHEMA)
    lines = report_lines(EnvReport(load, tuple(validate(load, SCHEMA))), secrets)
    lines.append(mask(table(show_rows(load, SCHEMA, secrets), ("KEY", "VALUE", "SET BY")), secrets))
    return sum(len(line) for line in lines)


def median_ms(text: str, runs: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "envs").mkdir()
        (root / "envs" / ".env.test").write_text(text)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            check(root)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def report(name: str, build: Callable[[int], str], small: int, large: int, runs: int) -> None:
    small_ms, large_ms = median_ms(build(small), runs), median_ms(build(large), runs)
    print(
        f"env_scaling {name} small={small} small_ms={small_ms:.1f} large={large} large_ms={large_ms:.1f}"
        f" ratio={large_ms / max(small_ms, 0.001):.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    report("one_value", one_value, 25_000, 100_000, runs)
    report("many_lines", many_lines, 2_000, 8_000, runs)
    report("oversized", lambda size: "A=" + "x" * size + "\n", 100_000, 5_000_000, runs)


if __name__ == "__main__":
    main()
