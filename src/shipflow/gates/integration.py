"""``inv gate.integration``: the project's ``integration`` test group run against a deployed environment.

pytest runs in a child process with ``SHIPFLOW_BASE_URL`` set to the environment's public URL (the
``base_url`` fixture of shipflow's pytest plugin returns it), only that group selected (switched on for
this run although ``tests_config.yaml`` keeps it off) and JUnit XML written to
``reports/integration-<env>.xml``. Every line pytest prints goes through the environment's mask. The
verdict is pytest's exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.errors import BadInput
from shipflow.gates.child import run_streaming
from shipflow.gates.outcome import GateOutcome, utc_now
from shipflow.testing.plugin import BASE_URL_VARIABLE

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from shipflow.gates.target import GateTarget
    from shipflow.testing.groups import GroupsConfig

GATE = "integration"
GROUP = "integration"
REPORTS = "reports"


class NoIntegrationGroup(BadInput):
    """tests_config.yaml declares no ``integration`` group, so there is nothing to run."""


@dataclass(frozen=True)
class JunitCounts:
    """What a JUnit XML report counts over its test suites."""

    tests: int
    failures: int
    errors: int
    skipped: int
    seconds: float

    def as_figures(self) -> dict[str, float]:
        return {
            "tests": self.tests,
            "failures": self.failures,
            "errors": self.errors,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }


def junit_counts(text: str) -> JunitCounts:
    """The totals of a JUnit XML report (pytest's ``<testsuites><testsuite ...>``, or one ``<testsuite>``);
    ValueError when the text is not such a report."""
    # The report is the one pytest just wrote for this run, not input from elsewhere.
    from xml.etree import ElementTree  # nosec B405

    try:
        root = ElementTree.fromstring(text)  # noqa: S314  # nosec B314
    except ElementTree.ParseError as error:
        raise ValueError(f"not JUnit XML: {error}") from None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if root.tag not in ("testsuite", "testsuites"):
        raise ValueError(f"not JUnit XML: the root element is <{root.tag}>")

    def total(name: str) -> float:
        return sum(float(suite.get(name, 0) or 0) for suite in suites)

    return JunitCounts(
        tests=int(total("tests")),
        failures=int(total("failures")),
        errors=int(total("errors")),
        skipped=int(total("skipped")),
        seconds=total("time"),
    )


def integration_paths(groups: GroupsConfig, root: Path) -> list[str]:
    """The files and folders the ``integration`` group names, relative to ``root`` (none: pytest
    collects its configured paths and the group's marker selects); :class:`NoIntegrationGroup` when
    the group is not declared."""
    if GROUP not in groups.names:
        where = groups.source if groups.found else f"{groups.source} (absent)"
        raise NoIntegrationGroup(
            f"{where} declares no '{GROUP}' group; add one, off by default, e.g.\n"
            f"  {GROUP}:\n    enabled: false\n    paths: [tests/integration]\n"
            f"    reason: runs against a deployed environment (inv gate.integration --env ENV)"
        )
    paths = []
    for path in groups.group(GROUP).paths:
        try:
            paths.append(path.relative_to(root).as_posix())
        except ValueError:
            paths.append(str(path))
    return paths


def pytest_argv(python: str, junit_xml: str, paths: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    """``python -m pytest`` running only the ``integration`` group (switched on for this run), JUnit XML
    to ``junit_xml``."""
    return [
        python, "-m", "pytest", f"--groups=+{GROUP}", "-m", GROUP, f"--junitxml={junit_xml}",
        "-o", f"junit_suite_name={GROUP}", *extra, *paths,
    ]  # fmt: skip


def run_integration_gate(
    target: GateTarget,
    *,
    environ: Mapping[str, str],
    on_line: Callable[[str], None],
    extra: Sequence[str] = (),
) -> tuple[GateOutcome, int]:
    """Run the ``integration`` group against ``target``: its outcome and pytest's exit code."""
    import sys

    from shipflow.gates.target import require_answer
    from shipflow.testing.groups import CONFIG_FILE, load_groups_config

    paths = integration_paths(load_groups_config(target.root / CONFIG_FILE, required=False), target.root)
    require_answer(target, "gate.integration")
    junit = f"{REPORTS}/{target.report_name(GATE)}.xml"
    (target.root / REPORTS).mkdir(exist_ok=True)
    (target.root / junit).unlink(missing_ok=True)
    on_line(f"gate.integration: the '{GROUP}' tests against {target.environment} at {target.url}")
    started = utc_now()
    code = run_streaming(
        pytest_argv(sys.executable, junit, paths, extra),
        cwd=target.root,
        env={**environ, BASE_URL_VARIABLE: target.url},
        on_line=lambda line: on_line(target.mask(line)),
    )
    finished = utc_now()
    report = target.root / junit
    counts = junit_counts(report.read_text(encoding="utf-8")) if report.is_file() else None
    outcome = GateOutcome(
        gate=GATE,
        environment=target.environment,
        url=target.url,
        passed=code == 0,
        started=started,
        finished=finished,
        figures=counts.as_figures() if counts else {},
        reports=(junit,) if counts else (),
    )
    return outcome, code


def summary_line(outcome: GateOutcome, code: int) -> str:
    """The gate's last line: passed or failed, the counts, and where the JUnit XML is."""
    figures = outcome.figures
    verdict = "passed" if outcome.passed else f"failed (pytest exit {code})"
    counts = (
        f"{figures['tests']:.0f} tests, {figures['failures']:.0f} failed, {figures['errors']:.0f} errors, "
        f"{figures['skipped']:.0f} skipped"
        if figures
        else "no JUnit XML written"
    )
    report = f"; JUnit XML: {outcome.reports[0]}" if outcome.reports else ""
    return f"gate.integration {outcome.environment}: {verdict}: {counts} in {outcome.seconds:.1f}s{report}"
