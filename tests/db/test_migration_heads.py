"""The head revision(s) a build writes into an image's labels, read from the migration files' lines."""

from __future__ import annotations

import pytest

from shipflow.db.heads import heads_of

pytestmark = pytest.mark.unit


def lines(files: dict[str, str]) -> list[tuple[str, str]]:
    return [(name, line) for name, text in files.items() for line in text.splitlines()]


def test_a_linear_history_has_its_last_revision_as_head() -> None:
    files = {
        "0001.py": 'revision = "0001"\ndown_revision = None\n',
        "0002.py": 'revision: str = "0002"\ndown_revision: str | None = "0001"\n',
        "0003.py": "revision = '0003'\ndown_revision = '0002'\n",
    }
    assert heads_of(lines(files)) == "0003"


def test_two_branches_are_two_heads_and_a_merge_makes_one_again() -> None:
    branched = {
        "a.py": 'revision = "a"\ndown_revision = None\n',
        "b.py": 'revision = "b"\ndown_revision = "a"\n',
        "c.py": 'revision = "c"\ndown_revision = "a"\n',
    }
    assert heads_of(lines(branched)) == "b,c"  # sorted, as `alembic current` lines are compared
    merged = {**branched, "m.py": 'revision = "m"\ndown_revision = ("b", "c")\n'}
    assert heads_of(lines(merged)) == "m"


def test_docstring_lines_that_mention_revisions_are_not_read_as_assignments() -> None:
    files = {"0001.py": '"""x\n\nRevision ID: 0001\nRevises:\n"""\nrevision = "0001"\ndown_revision = None\n'}
    assert heads_of(lines(files)) == "0001"


@pytest.mark.parametrize(
    "files",
    [
        {},
        {"0001.py": "revision = REVISION_FROM_ELSEWHERE\n"},
        {"0001.py": 'down_revision = "0000"\n'},
    ],
    ids=["no migration", "a revision that is not a literal", "a file without its revision"],
)
def test_a_head_that_cannot_be_read_is_none_so_no_deploy_skips_on_it(files: dict[str, str]) -> None:
    assert heads_of(lines(files)) is None
