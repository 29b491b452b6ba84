"""``inv ci.generate``: write the CI files of a provider into a project, or check them against a fresh
generation without writing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from shipflow.ci.workflows import GATES, PROVIDERS, ci_files
from shipflow.errors import BadInput, Failed


class UnknownProvider(BadInput):
    """``--provider`` is missing or names a provider shipflow does not generate for."""


class StaleCiFiles(Failed):
    """``--check`` found files that differ from a fresh generation (or are missing)."""


def file_status(current: str | None, text: str, *, check: bool) -> str:
    """What happens to one file: unchanged, differs/missing (checking), updated/created (writing)."""
    if current == text:
        return "unchanged"
    if check:
        return "differs" if current is not None else "missing"
    return "updated" if current is not None else "created"


def enabled_groups(root: Path) -> tuple[str, ...] | None:
    """The test groups the project's ``tests_config.yaml`` enables, in its order; None without the file
    (its whole suite is then one job per Python)."""
    from shipflow.testing.groups import CONFIG_FILE, load_groups_config

    config = load_groups_config(root / CONFIG_FILE, required=False)
    return config.enabled if config.found else None


def generate_ci_files(
    root: Path,
    provider: str,
    *,
    check: bool,
    on_line: Callable[[str], None],
    gates: Sequence[str] = GATES,
) -> None:
    """Write (or with ``check`` only compare) ``provider``'s CI files under ``root``, one line per file;
    :class:`StaleCiFiles` when checking found any out of date. ``gates``: those a promotion requires,
    run against staging before it."""
    if provider not in PROVIDERS:
        raise UnknownProvider(f"give --provider {' or '.join(PROVIDERS)} (got {provider or 'none'!r})")
    stale = 0
    for relative, text in ci_files(provider, enabled_groups(root), gates).items():
        path = root / relative
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        status = file_status(current, text, check=check)
        stale += status != "unchanged"
        if status in ("updated", "created"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        on_line(f"{status:<10} {relative}")
    if check and stale:
        raise StaleCiFiles(f"{stale} file(s) out of date; run `inv ci.generate --provider {provider}`")
