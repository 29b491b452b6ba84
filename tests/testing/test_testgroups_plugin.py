"""shipflow's pytest plugin on small generated projects: groups, overrides, bad input and `needs`.

The plugin is loaded through its ``pytest11`` entry point, exactly as in a project that installs shipflow.
"""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.unit

SOURCE_DOCUMENT_FORM = """\
test_groups:
  recommendations: true
  routes: true
  ai_intelligence: false
"""

TESTS = """\
import pytest

@pytest.mark.recommendations
def test_recommends():
    pass

@pytest.mark.routes
def test_route():
    pass

@pytest.mark.ai_intelligence
def test_asks_the_model():
    pass

def test_in_no_group():
    pass
"""


def other_installed_plugins() -> list[str]:
    """The names of the installed pytest plugins other than shipflow's."""
    from importlib.metadata import entry_points

    return sorted(plugin.name for plugin in entry_points(group="pytest11") if plugin.name != "shipflow")


@pytest.fixture(autouse=True)
def no_outer_overrides(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The generated projects see only the overrides each test sets, and only shipflow's plugin among the
    installed ones: another plugin imported during a run (hypothesis' takes a second) is imported again by
    every in-process run, since pytester forgets the modules a run imported. (After ``pytester``, which
    empties PYTEST_ADDOPTS.)"""
    monkeypatch.delenv("TEST_GROUPS", raising=False)
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join(f"-p no:{name}" for name in other_installed_plugins()))


def project(pytester: pytest.Pytester, config: str | None = SOURCE_DOCUMENT_FORM, **tests: str) -> None:
    if config is not None:
        pytester.makefile(".yaml", tests_config=textwrap.dedent(config))
    pytester.makepyfile(
        **{name: textwrap.dedent(text) for name, text in (tests or {"test_app": TESTS}).items()}
    )


def test_the_plugin_is_active_through_its_entry_point(pytester: pytest.Pytester) -> None:
    project(pytester)
    result = pytester.runpytest("--trace-config")
    result.stdout.fnmatch_lines(["*shipflow*shipflow/testing/plugin.py*"])


def test_a_disabled_group_is_skipped_with_its_reason_and_the_rest_runs(pytester: pytest.Pytester) -> None:
    project(pytester)
    result = pytester.runpytest("-ra", "--strict-markers")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "test groups (*tests_config.yaml): enabled: recommendations, routes; disabled: ai_intelligence",
            "SKIPPED [[]1[]] test_app.py:*: group 'ai_intelligence' disabled in tests_config.yaml",
        ]
    )
    assert result.ret == 0


def test_the_long_form_puts_whole_files_in_a_group_with_a_reason(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        """\
        test_groups:
          routes: {paths: [test_routes.py]}
          ai_intelligence:
            enabled: false
            paths: [ai]
            reason: calls the paid OpenAI API
        """,
        test_routes="def test_list(): pass\ndef test_detail(): pass\n",
        test_other="def test_other(): pass\n",
    )
    pytester.mkdir("ai")
    pytester.path.joinpath("ai", "test_model.py").write_text("def test_answer(): pass\n")
    result = pytester.runpytest("-ra", "--strict-markers")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] ai/test_model.py: calls the paid OpenAI API"])


def test_minus_m_selects_a_group_given_by_paths(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        "test_groups:\n  routes: {paths: [test_routes.py]}\n",
        test_routes="def test_list(): pass\ndef test_detail(): pass\n",
        test_other="def test_other(): pass\n",
    )
    result = pytester.runpytest("-m", "routes", "--strict-markers")
    result.assert_outcomes(passed=2, deselected=1)


@pytest.mark.parametrize(
    ("args", "environ", "passed", "skipped", "reason"),
    [
        (
            ["--groups=+ai_intelligence,-routes"],
            "",
            3,
            1,
            "group 'routes' disabled by --groups=-routes",
        ),
        ([], "+ai_intelligence,-routes", 3, 1, "group 'routes' disabled by TEST_GROUPS=-routes"),
        (["--groups=-routes"], "-recommendations", 1, 3, "group 'recommendations' disabled by TEST_GROUPS"),
        (["--all-groups"], "", 4, 0, None),
        (["--all-groups", "--groups=-recommendations"], "", 3, 1, "disabled by --groups=-recommendations"),
    ],
)
def test_overrides_switch_groups_without_editing_the_file(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    environ: str,
    passed: int,
    skipped: int,
    reason: str | None,
) -> None:
    project(pytester)
    monkeypatch.setenv("TEST_GROUPS", environ)
    result = pytester.runpytest("-ra", *args)
    result.assert_outcomes(passed=passed, skipped=skipped)
    if reason:
        result.stdout.fnmatch_lines([f"SKIPPED * {reason}*"])


def test_another_file_is_read_with_tests_config(pytester: pytest.Pytester) -> None:
    project(pytester)
    pytester.mkdir("ci")
    pytester.path.joinpath("ci", "nightly.yaml").write_text(
        "test_groups:\n  recommendations: false\n  routes: false\n  ai_intelligence: true\n"
    )
    result = pytester.runpytest("-ra", "--tests-config", "ci/nightly.yaml")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["*group 'routes' disabled in nightly.yaml"])


def test_without_a_config_file_every_group_runs_and_the_header_says_so(pytester: pytest.Pytester) -> None:
    project(pytester, None, test_app="def test_a(): pass\ndef test_b(): pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    assert sum("every group is enabled" in line for line in result.outlines) == 1


def test_group_markers_are_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    project(pytester)
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.recommendations: test group 'recommendations' (enabled this run)",
            "@pytest.mark.ai_intelligence: test group 'ai_intelligence' (disabled this run)",
            "@pytest.mark.needs(*services): real services the test uses (docker, nginx, sshd, *",
        ]
    )


# --- bad input: one clear message, a non-zero exit -------------------------------------------------


@pytest.mark.parametrize(
    ("config", "args", "environ", "message"),
    [
        (
            "test_groups:\n  routes: true\n    ai: false\n",
            [],
            "",
            "ERROR: *tests_config.yaml: not valid YAML at line 3, column 7: mapping values are not allowed*",
        ),
        (
            "test_groups:\n  routes: sometimes\n",
            [],
            "",
            "ERROR: *tests_config.yaml, line 2: group 'routes' must be true, false or a *got 'sometimes'",
        ),
        (
            "test_groups:\n  routes: {paths: [tests/api]}\n",
            [],
            "",
            "ERROR: *line 2: group 'routes' paths names 'tests/api', which does not exist under *",
        ),
        (
            SOURCE_DOCUMENT_FORM,
            ["--groups=+ai"],
            "",
            "ERROR: --groups: unknown group 'ai'; groups in *: recommendations, routes, ai_intelligence",
        ),
        (
            SOURCE_DOCUMENT_FORM,
            [],
            "-route",
            "ERROR: TEST_GROUPS: unknown group 'route'; groups in *tests_config.yaml: recommendations, *",
        ),
        (
            SOURCE_DOCUMENT_FORM,
            ["--tests-config=ci/missing.yaml"],
            "",
            "ERROR: *ci/missing.yaml: no such file (given with --tests-config); check the path",
        ),
    ],
)
def test_bad_input_stops_the_run_with_one_message(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    config: str,
    args: list[str],
    environ: str,
    message: str,
) -> None:
    project(pytester, config)
    monkeypatch.setenv("TEST_GROUPS", environ)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()
    assert not any("passed" in line or "failed" in line for line in result.outlines), "nothing ran"


def test_a_marker_that_is_not_a_group_is_a_collection_error_under_strict_markers(
    pytester: pytest.Pytester,
) -> None:
    project(pytester, test_app="import pytest\n\n@pytest.mark.ai_intelligenc\ndef test_typo(): pass\n")
    result = pytester.runpytest("--strict-markers")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*'ai_intelligenc' not found in `markers` configuration option*"])
    result.assert_outcomes(errors=1)


# --- needs: an enabled group never passes by skipping ----------------------------------------------

NEEDS_TESTS = """\
import pytest

pytestmark = pytest.mark.routes

@pytest.mark.needs("docker")
def test_runs_a_container():
    pass

@pytest.mark.needs("git")
def test_uses_git():
    pass
"""


def test_a_present_service_lets_the_test_run(pytester: pytest.Pytester) -> None:
    project(pytester, test_app=NEEDS_TESTS.replace('"docker"', '"git"'))
    pytester.runpytest("--strict-markers").assert_outcomes(passed=2)


def test_a_missing_service_fails_the_test_naming_its_group_and_the_fix(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-docker.sock")
    project(pytester, test_app=NEEDS_TESTS)
    result = pytester.runpytest("-ra", "--strict-markers")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "group 'routes' is enabled but the docker engine is not reachable (*): "
            "run 'bash scripts/setup.sh' (installs docker.io and starts dockerd), "
            "or disable the group with --groups=-routes",
        ]
    )


def test_a_missing_service_is_not_checked_when_its_group_is_disabled(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-docker.sock")
    project(pytester, test_app=NEEDS_TESTS)
    pytester.runpytest("--groups=-routes").assert_outcomes(skipped=2)


def test_a_test_in_no_group_fails_too_and_no_fixture_runs_first(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(pytester.path))
    project(
        pytester,
        test_app="""\
        import pytest

        @pytest.fixture
        def clone():
            raise AssertionError("the fixture ran")

        @pytest.mark.needs("git")
        def test_clones(clone):
            pass

        @pytest.mark.skipif(True, reason="not on this platform")
        @pytest.mark.needs("git")
        def test_skipped_by_its_own_mark():
            pass
        """,
    )
    result = pytester.runpytest("-ra")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["*this test needs git but git is not installed (no 'git' on PATH or in /usr/sbin)*"]
    )
    result.stdout.no_fnmatch_line("*the fixture ran*")


def test_an_unknown_service_name_is_an_error_naming_the_known_ones(pytester: pytest.Pytester) -> None:
    project(pytester, test_app='import pytest\n\n@pytest.mark.needs("mysql")\ndef test_db(): pass\n')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: test_app.py::test_db: @pytest.mark.needs: unknown service 'mysql'; known services: dock*"]
    )


def test_a_fixture_can_require_a_service_itself(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-docker.sock")
    project(
        pytester,
        test_app="""\
        import pytest
        from shipflow.testing.plugin import require_services

        @pytest.fixture
        def engine(request):
            require_services(request, "git", "docker")
            return "engine"

        @pytest.mark.routes
        def test_uses_engine(engine):
            pass
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*group 'routes' is enabled but the docker engine is not reachable*"])


def test_base_url_is_the_url_the_integration_gate_passes_and_fails_without_one(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(
        pytester, None, test_api="def test_url(base_url):\n    assert base_url == 'http://127.0.0.1:9/x'\n"
    )

    monkeypatch.setenv("SHIPFLOW_BASE_URL", "http://127.0.0.1:9/x/")
    assert pytester.runpytest().ret == 0
    monkeypatch.delenv("SHIPFLOW_BASE_URL")
    failed = pytester.runpytest()
    assert failed.ret == 1
    failed.stdout.fnmatch_lines(["*SHIPFLOW_BASE_URL is not set*inv gate.integration --env ENV*"])
