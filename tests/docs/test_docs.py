"""The docs site: generated reference pages up to date with the code, and which branches may publish it
(the real builds and deploys are in test_docs_site.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.docs.reference import reference_pages
from shipflow.release.branches import BUILD_ONLY, DEPLOY, DocsBranchError, docs_action
from shipflow.tasks import namespace

pytestmark = pytest.mark.unit


def test_committed_reference_pages_match_the_code(repo_root: Path) -> None:
    for relative, text in reference_pages(namespace).items():
        committed = repo_root / relative
        assert committed.is_file() and committed.read_text(encoding="utf-8") == text, (
            f"{relative} is out of date with the code: run `inv docs.build` and commit it"
        )


def test_the_task_reference_documents_every_task_and_flag() -> None:
    page = reference_pages(namespace)[Path("docs/reference/tasks.md")]
    for name in ("lint", "release", "ci.generate", "docs.deploy", "git.check", "env.check"):
        assert f"## `inv {name}`" in page
    assert "| `--version`, `-v` |  | the version to release, X.Y.Z" in page
    assert "| `--fix`, `-f` | off |" in page


def test_the_settings_reference_shows_defaults_from_the_code() -> None:
    page = reference_pages(namespace)[Path("docs/reference/settings.md")]
    assert '| `model` | string | `"gitflow"` |' in page
    assert "| `secret_key_min_length` | integer | `32` |" in page
    assert "| `image` | string | **required** |" in page


@pytest.mark.parametrize(
    ("branch", "action"), [("documentation", DEPLOY), ("documentation/runbook", BUILD_ONLY)]
)
def test_docs_actions_per_branch(branch: str, action: str) -> None:
    assert docs_action(branch) == action


@pytest.mark.parametrize("branch", ["main", "documentations", "feature/docs", None])
def test_other_branches_may_not_publish(branch: str | None) -> None:
    with pytest.raises(DocsBranchError, match="published only from the 'documentation' branch"):
        docs_action(branch)
