"""The gates' pure parts: thresholds, settings and flags, Locust's and pytest's reports read back, the
command lines and the environment a gate targets."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import REPO

from shipflow.errors import Failed
from shipflow.gates.integration import (
    NoIntegrationGroup,
    integration_paths,
    junit_counts,
    pytest_argv,
    summary_line,
)
from shipflow.gates.load import (
    LoadReports,
    LocustfileMissing,
    LocustMissing,
    judged,
    locust_argv,
    progress_line,
    require_ready,
    verdict,
)
from shipflow.gates.locust_report import (
    LoadFigures,
    UnreadableReport,
    figures_from_stats,
    histogram_percentile,
    progress_of,
)
from shipflow.gates.outcome import GateOutcome
from shipflow.gates.settings import BadGateFlag, LoadSettings, load_settings, with_flags
from shipflow.gates.target import GateTarget, gate_target
from shipflow.gates.thresholds import Check, broken, load_checks
from shipflow.project import Project, SettingsError, load_project
from shipflow.testing.groups import parse_groups_config

pytestmark = pytest.mark.unit

# --- thresholds -------------------------------------------------------------------------------------


def figures(**changes: float) -> LoadFigures:
    base = {"requests": 1000, "failures": 5, "p50_ms": 4, "p95_ms": 212, "p99_ms": 480, "duration_s": 10.0}
    return LoadFigures(**{**base, **changes})  # type: ignore[arg-type]


def test_each_threshold_is_one_line_saying_ok_or_broken() -> None:
    checks = load_checks(figures(), LoadSettings(max_p95_ms=300, max_fail_ratio=0.01, min_rps=50))

    assert [check.line for check in checks] == [
        "p95 212 ms <= 300 ms  ok",
        "failures 0.50% <= 1.00%  ok",
        "rps 100 >= 50  ok",
    ]
    assert broken(checks) == ()


def test_broken_thresholds_are_named_by_their_setting_with_the_figure() -> None:
    checks = load_checks(figures(p95_ms=412, failures=20), LoadSettings(max_p95_ms=0.001, min_rps=1_000_000))

    assert [check.passed for check in checks] == [False, False, False]
    assert checks[0].line == "p95 412 ms <= 0.001 ms  BROKEN"
    assert [check.broken for check in broken(checks)] == [
        "max_p95_ms (p95 412 ms > 0.001 ms)",
        "max_fail_ratio (failures 2.00% > 1.00%)",
        "min_rps (rps 100 < 1000000)",
    ]


def test_a_limit_is_met_at_equality() -> None:
    assert Check("max_p95_ms", "p95", 300, 300, at_most=True, unit="ms").passed
    assert Check("min_rps", "rps", 20, 20, at_most=False).passed
    assert Check("max_fail_ratio", "failures", 0, 0, at_most=True, unit="%").passed


def test_a_run_that_made_no_request_breaks_a_threshold_of_its_own() -> None:
    checks = load_checks(LoadFigures(0, 0, 0, 0, 0, 0), LoadSettings())

    assert checks[0].setting == "requests" and not checks[0].passed
    assert figures().rps == 100 and LoadFigures(0, 0, 0, 0, 0, 0).fail_ratio == 0


def outcome(checks: tuple[Check, ...], passed: bool) -> GateOutcome:
    when = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    return GateOutcome(
        gate="load",
        environment="staging",
        url="https://staging.example",
        passed=passed,
        started=when,
        finished=when.replace(second=12),
        figures={"requests": 1000},
        thresholds=checks,
        reports=("reports/load-staging.html",),
    )


def test_the_verdict_names_every_broken_threshold_or_says_all_were_met() -> None:
    met = load_checks(figures(), LoadSettings())
    failed = load_checks(figures(p95_ms=900), LoadSettings(max_p95_ms=300))

    assert verdict(outcome(met, True)) == "gate.load staging: passed, every threshold met"
    with pytest.raises(Failed) as caught:
        verdict(outcome(failed, False))
    assert caught.value.exit_code == 1
    assert str(caught.value) == "staging: 1 threshold(s) broken: max_p95_ms (p95 900 ms > 300 ms)"


def test_an_outcome_is_plain_json_with_when_it_ran() -> None:
    document = outcome(load_checks(figures(), LoadSettings()), True).as_json()

    assert json.loads(json.dumps(document)) == document
    assert document["started"] == "2026-12-03T10:00:00+00:00" and document["finished"].endswith(
        "10:00:12+00:00"
    )
    assert document["thresholds"][0] == {
        "setting": "max_p95_ms",
        "figure": 212,
        "limit": 500.0,
        "comparison": "<=",
        "passed": True,
    }
    assert outcome((), True).seconds == 12


# --- settings and flags -----------------------------------------------------------------------------


def project_with(tmp_path: Path, table: str) -> LoadSettings:
    (tmp_path / "pyproject.toml").write_text(f"[tool.shipflow.gates.load]\n{table}\n")
    return load_settings(load_project(tmp_path))


def test_settings_default_when_absent_and_read_every_key(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert load_settings(load_project(tmp_path)) == LoadSettings()

    read = project_with(
        tmp_path,
        'locustfile = "load/main.py"\nusers = 50\nspawn_rate = 2.5\nrun_time = 60\n'
        "max_fail_ratio = 0\nmax_p95_ms = 250\nmin_rps = 40",
    )
    assert read == LoadSettings("load/main.py", 50, 2.5, 60, 0.0, 250.0, 40.0)


def test_this_repositorys_load_settings_load() -> None:
    settings = load_settings(load_project(REPO))
    assert settings.locustfile == "examples/service/locustfile.py"
    assert (REPO / settings.locustfile).is_file()


def test_an_unknown_key_names_the_file_the_dotted_key_and_the_closest_known_one(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        project_with(tmp_path, "max_p59_ms = 300")
    message = str(caught.value)
    assert str(tmp_path / "pyproject.toml") in message
    assert (
        "unknown key tool.shipflow.gates.load.max_p59_ms (did you mean tool.shipflow.gates.load.max_p95_ms?)"
        in (message)
    )


def test_an_unknown_table_under_gates_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.shipflow.gates.lod]\nusers = 3\n")
    with pytest.raises(
        SettingsError, match=r"tool\.shipflow\.gates\.lod \(did you mean tool\.shipflow\.gates\.load\?\)"
    ):
        load_settings(load_project(tmp_path))


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("users = 0", "tool.shipflow.gates.load.users must be from 1 to 100000, got 0"),
        ("users = 2.5", "tool.shipflow.gates.load.users must be a whole number, got 2.5"),
        ("run_time = 0", "tool.shipflow.gates.load.run_time must be from 1 to 86400, got 0"),
        ("spawn_rate = 0", "tool.shipflow.gates.load.spawn_rate must be greater than 0, got 0"),
        ("max_fail_ratio = 1.5", "tool.shipflow.gates.load.max_fail_ratio must be from 0 to 1, got 1.5"),
        ("max_p95_ms = -3", "tool.shipflow.gates.load.max_p95_ms must be greater than 0, got -3"),
        ("min_rps = -1", "tool.shipflow.gates.load.min_rps must be 0 or more, got -1"),
        ("max_p95_ms = nan", "tool.shipflow.gates.load.max_p95_ms must be greater than 0, got nan"),
        ('users = "ten"', "tool.shipflow.gates.load.users must be a whole number, got 'ten'"),
        ("min_rps = true", "tool.shipflow.gates.load.min_rps must be a number, got True"),
        ('locustfile = ""', "tool.shipflow.gates.load.locustfile must be a path"),
    ],
)
def test_a_value_out_of_range_or_of_the_wrong_kind_is_refused(
    tmp_path: Path, table: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        project_with(tmp_path, table)
    assert expected in str(caught.value) and str(tmp_path / "pyproject.toml") in str(caught.value)


def test_flags_replace_settings_and_are_checked_like_them() -> None:
    settings = LoadSettings(users=20, max_p95_ms=300)
    flags = {"users": "5", "run_time": "7", "max_p95_ms": "0.001", "min_rps": None, "locustfile": "other.py"}

    changed = with_flags(settings, flags)

    assert changed == LoadSettings(locustfile="other.py", users=5, run_time=7, max_p95_ms=0.001)
    assert with_flags(settings, dict.fromkeys(flags)) == settings


@pytest.mark.parametrize(
    ("flag", "text", "expected"),
    [
        ("users", "many", "--users must be a whole number, got 'many'"),
        ("users", "2.5", "--users must be a whole number, got '2.5'"),
        ("run_time", "0", "--run-time must be from 1 to 86400, got '0'"),
        ("max_fail_ratio", "2", "--max-fail-ratio must be from 0 to 1, got '2'"),
        ("max_p95_ms", "0", "--max-p95-ms must be greater than 0, got '0'"),
        ("max_p95_ms", "inf", "--max-p95-ms must be greater than 0, got 'inf'"),
        ("spawn_rate", "", "--spawn-rate must be a number, got ''"),
        ("locustfile", " ", "--locustfile is empty"),
    ],
)
def test_a_bad_flag_is_bad_input_naming_the_flag(flag: str, text: str, expected: str) -> None:
    with pytest.raises(BadGateFlag) as caught:
        with_flags(LoadSettings(), {flag: text})
    assert expected in str(caught.value) and caught.value.exit_code == 2


# --- Locust's reports -------------------------------------------------------------------------------


def stats_entry(
    name: str, requests: int, failures: int, times: dict[int, int], start: float, last: float
) -> dict[str, object]:
    return {
        "name": name,
        "method": "GET",
        "num_requests": requests,
        "num_none_requests": 0,
        "num_failures": failures,
        "response_times": {str(ms): count for ms, count in times.items()},
        "start_time": start,
        "last_request_timestamp": last,
        "total_response_time": 0,
        "max_response_time": max(times),
        "min_response_time": min(times),
        "total_content_length": 0,
        "num_reqs_per_sec": {},
        "num_fail_per_sec": {},
    }


def test_figures_merge_every_request_names_histogram_over_the_whole_run() -> None:
    text = json.dumps(
        [
            stats_entry("/", 90, 0, {3: 51, 5: 39}, start=1000.0, last=1009.5),
            stats_entry("/notes", 10, 2, {40: 6, 200: 4}, start=1000.4, last=1010.0),
        ]
    )

    read = figures_from_stats(text)

    assert (read.requests, read.failures) == (100, 2)
    assert (read.p50_ms, read.p95_ms, read.p99_ms) == (3, 40, 200)
    assert read.duration_s == 10.0 and read.rps == 10.0 and read.fail_ratio == 0.02


def test_a_percentile_is_locusts_walk_down_the_histogram() -> None:
    histogram = {float(ms): 1 for ms in range(1, 101)}
    # Locust's p95 of 1..100 ms is 96: the smallest time with at most 95 requests strictly below it.
    assert histogram_percentile(histogram, 0.95) == 96
    assert histogram_percentile(histogram, 0.5) == 51
    assert histogram_percentile({7.0: 3}, 0.99) == 7
    assert histogram_percentile({}, 0.95) == 0


def test_a_run_without_requests_has_zero_figures_and_a_broken_file_is_unreadable() -> None:
    assert figures_from_stats("[]") == LoadFigures(0, 0, 0, 0, 0, 0)
    for text in ("", "{}", '[{"name": "/"}]', "[1]"):
        with pytest.raises(UnreadableReport):
            figures_from_stats(text)


def test_progress_comes_from_the_aggregated_row_of_locusts_stats_table() -> None:
    name = f"{'':9}{'Aggregated':<60}"
    row = f"{name}{2412:7d} {'3(0.12%)':>12} |{4:7d}{1:8d}{88:8d}{3:7d} |{241.3:8.2f}{0.2:12.2f}"
    header = "Type     Name      # reqs      # fails |    Avg     Min     Max    Med |   req/s  failures/s"
    percentiles = f"{'':9}{'Aggregated':<60}" + "".join(
        f"{ms:7d}" for ms in (3, 4, 4, 5, 6, 9, 15, 20, 88, 2412)
    )

    progress = progress_of(row)

    assert progress is not None and (progress.requests, progress.failures, progress.current_rps) == (
        2412,
        3,
        241.3,
    )
    assert progress_of(header) is None and progress_of(percentiles) is None
    assert progress_line(9.6, progress) == "    10s  requests 2,412  failures 3  rps now 241.3"


def test_locust_runs_headless_for_the_time_asked_with_every_report() -> None:
    settings = LoadSettings(locustfile="load.py", users=4, spawn_rate=2.5, run_time=6)
    argv = locust_argv("/py", "http://127.0.0.1:8080", settings, LoadReports("load-local"))

    assert argv[:4] == ["/py", "-m", "locust", "--locustfile"] and "--headless" in argv
    pairs = dict(itertools.pairwise(argv))
    assert pairs["--host"] == "http://127.0.0.1:8080" and pairs["--users"] == "4"
    assert pairs["--spawn-rate"] == "2.5" and pairs["--run-time"] == "6s" and pairs["--stop-timeout"] == "0"
    assert pairs["--html"] == "reports/load-local.html" and pairs["--json-file"] == "reports/load-local-stats"
    assert pairs["--csv"] == "reports/load-local" and pairs["--exit-code-on-error"] == "0"
    assert "reports/load-local-stats.json" in LoadReports("load-local").locust_files


# --- the integration gate ---------------------------------------------------------------------------

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="integration"
errors="1" failures="2" skipped="1" tests="9" time="0.512" timestamp="2026-12-03T10:00:00" hostname="h">
<testcase classname="t" name="a" time="0.01"/></testsuite></testsuites>"""


def test_junit_counts_are_read_from_pytests_report() -> None:
    counts = junit_counts(JUNIT)

    assert (counts.tests, counts.failures, counts.errors, counts.skipped) == (9, 2, 1, 1)
    assert counts.seconds == pytest.approx(0.512)
    assert junit_counts('<testsuite tests="2" failures="0"/>').tests == 2
    for text in ("", "<html/>", "<testsuites"):
        with pytest.raises(ValueError, match="not JUnit XML"):
            junit_counts(text)


def test_pytest_runs_only_the_integration_group_switched_on_with_junit_xml() -> None:
    argv = pytest_argv("/py", "reports/integration-staging.xml", ["tests/integration"], ["-x"])

    assert argv == [
        "/py", "-m", "pytest", "--groups=+integration", "-m", "integration",
        "--junitxml=reports/integration-staging.xml", "-o", "junit_suite_name=integration", "-x",
        "tests/integration",
    ]  # fmt: skip


def test_the_integration_group_must_be_declared_and_its_paths_are_passed(tmp_path: Path) -> None:
    (tmp_path / "tests" / "integration").mkdir(parents=True)
    source = tmp_path / "tests_config.yaml"
    declared = parse_groups_config(
        "test_groups:\n  unit: true\n  integration:\n    enabled: false\n    paths: [tests/integration]\n",
        source,
    )
    marker_only = parse_groups_config("test_groups:\n  integration: false\n", source)
    missing = parse_groups_config("test_groups:\n  unit: true\n", source)

    assert integration_paths(declared, tmp_path) == ["tests/integration"]
    assert integration_paths(marker_only, tmp_path) == []
    with pytest.raises(NoIntegrationGroup, match="declares no 'integration' group; add one, off by default"):
        integration_paths(missing, tmp_path)


def test_the_summary_line_gives_the_counts_and_the_report() -> None:
    when = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    passed = GateOutcome(
        "integration", "local", "http://127.0.0.1:8080", True, when, when.replace(second=2),
        figures=junit_counts(JUNIT).as_figures(), reports=("reports/integration-local.xml",),
    )  # fmt: skip
    failed = GateOutcome("integration", "local", "http://127.0.0.1:8080", False, when, when)

    assert summary_line(passed, 0) == (
        "gate.integration local: passed: 9 tests, 2 failed, 1 errors, 1 skipped in 2.0s; "
        "JUnit XML: reports/integration-local.xml"
    )
    assert (
        summary_line(failed, 4)
        == "gate.integration local: failed (pytest exit 4): no JUnit XML written in 0.0s"
    )


# --- the environment a gate targets -----------------------------------------------------------------


def deploy_project(root: Path) -> Path:
    (root / "envs").mkdir()
    (root / "deploy").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "envs" / ".env.staging").write_text("SECRET_KEY=canary-gate-secret-5b1e\n")
    (root / "deploy" / "deploy.toml").write_text(
        'app = "app"\n[targets.local]\nproxy_port = 8099\n'
        '[targets.staging]\nhost = "203.0.113.5"\npublic_url = "https://staging.example/"\n'
    )
    return root


def test_a_gate_targets_the_environments_public_url_and_masks_its_secrets(tmp_path: Path) -> None:
    root = deploy_project(tmp_path)

    staging = gate_target("stage", root=root, environ={})
    local = gate_target("local", root=root, environ={})

    assert (staging.environment, staging.url, staging.health_path) == (
        "staging",
        "https://staging.example",
        "/health",
    )
    assert staging.mask("key canary-gate-secret-5b1e") == "key ****"
    assert local.url == "http://127.0.0.1:8099" and local.report_name("load") == "load-local"


def test_an_unknown_environment_or_one_without_a_target_is_bad_input(tmp_path: Path) -> None:
    root = deploy_project(tmp_path)

    with pytest.raises(SettingsError, match="unknown environment 'qa'"):
        gate_target("qa", root=root, environ={})
    with pytest.raises(SettingsError, match=r"no \[targets\.production\] table"):
        gate_target("production", root=root, environ={})


def local_target(root: Path) -> GateTarget:
    return GateTarget(root, Project(root, {}), "local", "http://127.0.0.1:9", "/health", mask=str)


def test_a_run_is_judged_into_an_outcome_with_the_load_asked_and_its_reports(tmp_path: Path) -> None:
    when = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    settings = LoadSettings(users=4, run_time=6, max_p95_ms=100)

    outcome = judged(local_target(tmp_path), settings, figures(), started=when, finished=when, wall_s=7.04)

    assert outcome.gate == "load" and outcome.environment == "local" and not outcome.passed
    assert [check.setting for check in broken(outcome.thresholds)] == ["max_p95_ms"]
    assert outcome.figures["wall_s"] == 7.04 and outcome.figures["run_time_s"] == 6
    assert outcome.figures["users"] == 4 and outcome.figures["p95_ms"] == 212
    assert outcome.reports == ("reports/load-local.html", "reports/load-local.json")


def test_a_missing_locustfile_or_locust_is_bad_input_before_any_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(LocustfileMissing, match=r"nowhere\.py: no such locustfile") as missing_file:
        require_ready(local_target(tmp_path), LoadSettings(locustfile="nowhere.py"))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(LocustMissing, match=r"pip install 'shipflow\[gates\]'") as missing_locust:
        require_ready(local_target(tmp_path), LoadSettings())
    assert missing_file.value.exit_code == missing_locust.value.exit_code == 2
