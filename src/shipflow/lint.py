"""Lint checks as data: which tools run over which paths, and their results.

Reading the settings checks that the paths they name exist; building the checks from those settings is
pure, so what ``inv lint`` runs is tested directly; running them goes through a callable the task supplies.

"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shipflow.errors import BadInput, Failed
from shipflow.project import PYPROJECT, Project, SettingsError, check_keys, shown

DEFAULT_RUFF_PATHS = (".",)
DEFAULT_MYPY_PATHS = ("src", "tests", "tasks.py", "noxfile.py")
DEFAULT_BANDIT_PATHS = ("src",)


class UnknownCheck(BadInput, ValueError):
    """``--only``/``--skip`` named a check that does not exist."""


class ChecksFailed(Failed):
    """At least one check failed; the message names them and the total time."""


@dataclass(frozen=True)
class ExtraLinter:
    """A project-declared linter: a command to check and, optionally, one to fix."""

    name: str
    run: tuple[str, ...]
    fix: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LintSettings:
    """Paths each built-in tool looks at, plus any extra linters."""

    ruff: tuple[str, ...]
    mypy: tuple[str, ...]
    bandit: tuple[str, ...]
    extra: tuple[ExtraLinter, ...] = ()


@dataclass(frozen=True)
class LintCheck:
    """One tool run: a display name, the module that must be importable (if any), and its argv."""

    name: str
    argv: tuple[str, ...]
    module: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """What a check did: passed or not, how long it took, and what the tool printed."""

    name: str
    ok: bool
    seconds: float
    output: str


LINT_KEYS = ("ruff", "mypy", "bandit", "extra")
EXTRA_KEYS = ("name", "run", "fix")


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError(f"{where} must be a list of strings, got {shown(value)}")
    return tuple(value)


def _paths(section: dict[str, Any], key: str, default: tuple[str, ...], project: Project) -> tuple[str, ...]:
    if key not in section:
        return tuple(path for path in default if (project.root / path).exists())
    where = f"{project.root / PYPROJECT}: [tool.shipflow.lint] {key}"
    paths = _string_list(section[key], where)
    missing = [path for path in paths if not (project.root / path).exists()]
    if missing:
        raise SettingsError(
            f"{where} names {', '.join(map(shown, missing))}, which does not exist; fix or remove it"
        )
    return paths


def _extra(entry: Any, index: int, project: Project) -> ExtraLinter:
    where = f"{project.root / PYPROJECT}: [tool.shipflow.lint] extra[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or "run" not in entry:
        example = "{ name = 'eslint', run = ['npx', 'eslint', '.'] }"
        raise SettingsError(f"{where} needs a name and a run command, e.g. {example}")
    check_keys(entry, EXTRA_KEYS, file=project.root / PYPROJECT, prefix=f"tool.shipflow.lint.extra[{index}].")
    run = _string_list(entry["run"], f"{where}.run")
    fix = _string_list(entry["fix"], f"{where}.fix") if "fix" in entry else None
    if not run:
        raise SettingsError(f"{where}.run is empty: give the command to run as a list")
    return ExtraLinter(name=entry["name"], run=run, fix=fix)


def lint_settings(project: Project) -> LintSettings:
    """Read ``[tool.shipflow.lint]``; absent keys default to the usual paths that exist."""
    section = project.section("lint", LINT_KEYS)
    extra = section.get("extra", [])
    if not isinstance(extra, list):
        raise SettingsError(
            f"{project.root / PYPROJECT}: [tool.shipflow.lint] extra must be a list of tables"
        )
    return LintSettings(
        ruff=_paths(section, "ruff", DEFAULT_RUFF_PATHS, project),
        mypy=_paths(section, "mypy", DEFAULT_MYPY_PATHS, project),
        bandit=_paths(section, "bandit", DEFAULT_BANDIT_PATHS, project),
        extra=tuple(_extra(entry, index, project) for index, entry in enumerate(extra)),
    )


def lint_checks(
    settings: LintSettings, *, python: str, fix: bool = False, has_pyproject: bool = True
) -> list[LintCheck]:
    """The checks ``inv lint`` runs, in order; ``fix`` makes ruff and extra linters rewrite files first."""
    config = ("-c", PYPROJECT) if has_pyproject else ()
    checks: list[LintCheck] = []
    if settings.ruff:
        ruff = (python, "-m", "ruff")
        if fix:
            checks.append(LintCheck("ruff fix", (*ruff, "check", "--fix", *settings.ruff), "ruff"))
            checks.append(LintCheck("ruff format", (*ruff, "format", *settings.ruff), "ruff"))
        else:
            checks.append(LintCheck("ruff check", (*ruff, "check", *settings.ruff), "ruff"))
            checks.append(LintCheck("ruff format", (*ruff, "format", "--check", *settings.ruff), "ruff"))
    if settings.mypy:
        checks.append(LintCheck("mypy", (python, "-m", "mypy", "--strict", *settings.mypy), "mypy"))
    if settings.bandit:
        checks.append(
            LintCheck("bandit", (python, "-m", "bandit", "-q", *config, "-r", *settings.bandit), "bandit")
        )
    for linter in settings.extra:
        argv = linter.fix if fix and linter.fix else linter.run
        checks.append(LintCheck(linter.name, argv))
    return checks


def tool_of(check: LintCheck) -> str:
    """The name ``--only``/``--skip`` use for a check: its module for built-ins, else its name."""
    return check.module or check.name


def select_checks(
    checks: Sequence[LintCheck], *, only: Sequence[str], skip: Sequence[str]
) -> list[LintCheck]:
    """The checks named by ``only`` (all when empty) minus those in ``skip``; unknown names are errors."""
    known = {tool_of(check) for check in checks}
    unknown = sorted((set(only) | set(skip)) - known)
    if unknown:
        raise UnknownCheck(
            f"unknown check {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}"
        )
    return [check for check in checks if (not only or tool_of(check) in only) and tool_of(check) not in skip]


Runner = Callable[[Sequence[str]], tuple[int, str]]
"""Runs an argv and returns its exit code and combined output."""


def run_checks(
    checks: Sequence[LintCheck],
    run: Runner,
    *,
    is_installed: Callable[[str], bool],
    on_result: Callable[[CheckResult], None] = lambda result: None,
) -> list[CheckResult]:
    """Run every check (a failure does not stop the others), reporting each as it finishes."""
    results = []
    for check in checks:
        started = time.monotonic()
        if check.module is not None and not is_installed(check.module):
            code, output = (
                1,
                (
                    f"{check.module} is not installed in this environment: "
                    "run `bash scripts/setup.sh` or `pip install -e '.[dev]'`"
                ),
            )
        else:
            code, output = run(check.argv)
        result = CheckResult(check.name, code == 0, time.monotonic() - started, output)
        on_result(result)
        results.append(result)
    return results


def result_line(result: CheckResult) -> str:
    """One line per tool: status, name, time."""
    status = "ok" if result.ok else "FAIL"
    return f"{status:<4}  {result.name:<12} {result.seconds:6.2f}s"


def result_lines(result: CheckResult) -> list[str]:
    """What a finished check shows: its line, then the tool's output when it failed."""
    return [result_line(result), result.output] if not result.ok and result.output else [result_line(result)]


def run_lint(
    project: Project,
    run: Runner,
    *,
    python: str,
    fix: bool = False,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    on_result: Callable[[CheckResult], None] = lambda result: None,
) -> str:
    """Run the project's checks (``only``/``skip`` select them); the summary, or :class:`ChecksFailed`."""
    settings = lint_settings(project)
    has_pyproject = (project.root / PYPROJECT).is_file()
    checks = select_checks(
        lint_checks(settings, python=python, fix=fix, has_pyproject=has_pyproject), only=only, skip=skip
    )
    return checks_summary(run_checks(checks, run, is_installed=module_available, on_result=on_result))


def checks_summary(results: Sequence[CheckResult]) -> str:
    """``N checks (T.Ts)`` when every check passed; :class:`ChecksFailed` naming the failed ones else."""
    failed = [result.name for result in results if not result.ok]
    total = sum(result.seconds for result in results)
    if failed:
        raise ChecksFailed(f"{', '.join(failed)} ({total:.1f}s)")
    return f"{len(results)} checks ({total:.1f}s)"


def module_available(module: str) -> bool:
    """Whether ``python -m module`` can run in this interpreter."""
    from importlib.util import find_spec

    return find_spec(module) is not None
