"""The pytest plugin of shipflow: test groups from ``tests_config.yaml`` and the ``needs`` marker.

Registered through the ``pytest11`` entry point, so it is active in every project that installs shipflow.

- Each group becomes a marker.  A test belongs to a group through that marker or through the group's
  ``paths`` (such tests get the marker too, so ``pytest -m GROUP`` selects the whole group).  Tests of a
  disabled group are SKIPPED with the group's reason; tests in no group always run.
- ``--groups=+a,-b``, the ``TEST_GROUPS`` variable and ``--all-groups`` switch groups without editing the
  file; ``--tests-config PATH`` reads another file.
- ``@pytest.mark.needs("docker", "nginx")`` declares the real services a test uses.  When the test runs
  (its groups are enabled) and a service is missing, the test FAILS with what to do: an enabled group never
  passes by skipping.
- The ``base_url`` fixture is the deployed environment's public URL that ``inv gate.integration`` passes in
  ``SHIPFLOW_BASE_URL``; a test that asks for it without one FAILS, saying how to run it.

A marker that is neither a group nor registered elsewhere is a typo pytest itself reports: a warning, or a
collection error under ``--strict-markers`` (which this plugin keeps working by registering every group).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

from shipflow.testing.groups import (
    CONFIG_FILE,
    ENV_VAR,
    Group,
    GroupsConfig,
    GroupsError,
    header_lines,
    load_groups_config,
    selected_groups,
)
from shipflow.testing.services import (
    KNOWN_SERVICES,
    ServiceStatus,
    UnknownServiceError,
    check_service,
    validate_services,
)

NEEDS = "needs"
BASE_URL_VARIABLE = "SHIPFLOW_BASE_URL"
"""Where an integration test finds the deployed public URL (``inv gate.integration`` sets it)."""
GROUPS_KEY = pytest.StashKey[GroupsConfig]()
SERVICES_KEY = pytest.StashKey[dict[str, ServiceStatus]]()
ITEM_GROUPS_KEY = pytest.StashKey[tuple[Group, ...]]()
MISSING_SERVICE_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The group options (``--groups``, ``--all-groups``, ``--tests-config``)."""
    group = parser.getgroup("shipflow", "test groups (tests_config.yaml)")
    group.addoption(
        "--groups",
        action="append",
        default=[],
        metavar="+GROUP,-GROUP",
        help=f"switch groups on (+) or off (-) for this run, e.g. --groups=+slow,-docker; also ${ENV_VAR}",
    )
    group.addoption("--all-groups", action="store_true", default=False, help="run every group")
    group.addoption(
        "--tests-config",
        default=None,
        metavar="PATH",
        help=f"read the groups from PATH instead of {CONFIG_FILE} at the root",
    )


def _load(config: pytest.Config) -> GroupsConfig:
    given = config.getoption("tests_config")
    path = Path(given) if given else config.rootpath / CONFIG_FILE
    if given and not path.is_absolute():
        path = config.invocation_params.dir / path
    groups = load_groups_config(path, required=bool(given))
    return selected_groups(
        groups,
        cli_overrides=config.getoption("groups"),
        environ=os.environ,
        all_groups=config.getoption("all_groups"),
    )


def pytest_configure(config: pytest.Config) -> None:
    """Read the groups, register each as a marker, and register ``needs``."""
    try:
        groups = _load(config)
    except GroupsError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[GROUPS_KEY] = groups
    config.stash[SERVICES_KEY] = {}
    for group in groups.groups:
        state = "enabled" if group.enabled else "disabled"
        config.addinivalue_line("markers", f"{group.name}: test group '{group.name}' ({state} this run)")
    config.addinivalue_line(
        "markers",
        f"{NEEDS}(*services): real services the test uses ({', '.join(KNOWN_SERVICES)}); "
        "the test fails when one is missing",
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    """One line: the enabled and disabled groups (or that there is no groups file)."""
    return header_lines(config.stash[GROUPS_KEY])


def _in_paths(path: Path, group: Group) -> bool:
    return any(path == root or root in path.parents for root in group.paths)


def _needed_services(item: pytest.Item) -> tuple[str, ...]:
    names: list[str] = []
    for marker in item.iter_markers(name=NEEDS):
        for name in marker.args:
            if not isinstance(name, str):
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.needs takes service names, got {name!r}"
                )
            if name not in names:
                names.append(name)
    return tuple(names)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so path-given group markers count
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests with their groups, skip those of disabled groups, and check ``needs`` names."""
    groups = config.stash[GROUPS_KEY]
    for item in items:
        mine = []
        item_path = item.path.resolve()
        for group in groups.groups:
            if item.get_closest_marker(group.name) is not None:
                mine.append(group)
            elif _in_paths(item_path, group):
                item.add_marker(group.name)
                mine.append(group)
        item.stash[ITEM_GROUPS_KEY] = tuple(mine)
        try:
            validate_services(_needed_services(item))
        except UnknownServiceError as error:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.needs: {error}") from None
        disabled = next((group for group in mine if not group.enabled), None)
        if disabled is not None:
            item.add_marker(pytest.mark.skip(reason=disabled.skip_reason))


def _status(config: pytest.Config, name: str) -> ServiceStatus:
    cache = config.stash[SERVICES_KEY]
    if name not in cache:
        cache[name] = check_service(name)
    return cache[name]


def missing_service_message(status: ServiceStatus, groups: tuple[Group, ...]) -> str:
    """Why a test that needs ``status``'s service fails, and what to do about it."""
    if not groups:
        return f"this test needs {status.name} but {status.missing}: {status.setup}"
    names = ", ".join(f"'{group.name}'" for group in groups)
    disable = ",".join(f"-{group.name}" for group in groups[:1])
    noun = "group" if len(groups) == 1 else "groups"
    verb = "is" if len(groups) == 1 else "are"
    return (
        f"{noun} {names} {verb} enabled but {status.missing}: {status.setup}, "
        f"or disable the group with --groups={disable}"
    )


def require_services(request: pytest.FixtureRequest, *services: str) -> None:
    """Fail the current test or fixture unless every service is here (checked once per session).

    For fixtures that need a service; tests declare theirs with ``@pytest.mark.needs(...)``.
    """
    try:
        validate_services(services)
    except UnknownServiceError as error:
        pytest.fail(str(error), pytrace=False)
    groups = request.node.stash.get(ITEM_GROUPS_KEY, ())
    for name in services:
        status = _status(request.config, name)
        if not status.available:
            pytest.fail(missing_service_message(status, groups), pytrace=False)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail, before any fixture runs, a test whose needed service is missing.

    A plain hook (not tryfirst) so skip/skipif marks, evaluated first, still skip the test; entry-point
    plugins register after pytest's runner, so this runs before fixtures are set up.
    """
    for name in _needed_services(item):
        status = _status(item.config, name)
        if not status.available:
            item.stash[MISSING_SERVICE_KEY] = True
            pytest.fail(missing_service_message(status, item.stash.get(ITEM_GROUPS_KEY, ())), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Report a missing service as a FAILED test (not a setup ERROR): the test itself cannot pass."""
    report = yield
    if call.when == "setup" and report.failed and item.stash.get(MISSING_SERVICE_KEY, False):
        report.when = "call"
    return report


@pytest.fixture(scope="session")
def base_url() -> str:
    """The public URL of the environment under test, without a trailing ``/`` (``SHIPFLOW_BASE_URL``, set
    by ``inv gate.integration --env ENV``)."""
    url = os.environ.get(BASE_URL_VARIABLE, "").strip().rstrip("/")
    if not url:
        pytest.fail(
            f"{BASE_URL_VARIABLE} is not set, so there is no environment to test: run these tests with "
            "`inv gate.integration --env ENV`, which sets it to ENV's public URL",
            pytrace=False,
        )
    return url
