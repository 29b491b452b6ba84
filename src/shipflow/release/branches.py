"""The branch model: which branch names a project uses, and which branch may release or deploy.

Two models, chosen with ``[tool.shipflow.git] model`` in pyproject.toml:

- ``gitflow`` (the default): ``main`` holds released code, ``develop`` integrates
  ``feature/*``; ``research/*`` for experiments, ``hotfix/*`` for urgent fixes to production.
- ``github-flow``: ``main`` is always deployable; ``feature/*`` and ``hotfix/*``
  branch from it.

Both add ``documentation`` (the docs site is published from it) and ``documentation/*`` (docs work,
built but not published). Plain functions, no I/O besides reading the settings table and, for
:func:`check_branch`, the current branch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipflow.errors import BadInput, Refused
from shipflow.project import PYPROJECT, Project, SettingsError, shown

MODELS: tuple[str, ...] = ("gitflow", "github-flow")
DEFAULT_MODEL = "gitflow"
MAIN = "main"
DEVELOP = "develop"
DOCUMENTATION = "documentation"

PREFIXED_KINDS: tuple[str, ...] = ("feature", "research", "hotfix", "documentation")
"""Kinds written ``<kind>/<name>``, e.g. ``feature/auth-yandex``."""

BRANCHES_OF_MODEL: dict[str, tuple[str, ...]] = {
    "gitflow": ("main", "develop", "feature/*", "research/*", "hotfix/*", "documentation", "documentation/*"),
    "github-flow": ("main", "feature/*", "hotfix/*", "documentation", "documentation/*"),
}
"""The branch names each model allows, as patterns (``*`` is one or more name parts)."""

_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class GitSettings:
    """``[tool.shipflow.git]``: the branch model and the remote releases are pushed to."""

    model: str = DEFAULT_MODEL
    remote: str = "origin"


GIT_KEYS = ("model", "remote")


def git_settings(project: Project) -> GitSettings:
    """Read ``[tool.shipflow.git]``; every key is optional."""
    section = project.section("git", GIT_KEYS)
    where = f"{project.root / PYPROJECT}: [tool.shipflow.git]"
    model = section.get("model", DEFAULT_MODEL)
    if model not in MODELS:
        raise SettingsError(
            f"{where} model must be one of {', '.join(map(repr, MODELS))}, got {shown(model)}"
        )
    remote = section.get("remote", "origin")
    if not isinstance(remote, str) or not remote:
        raise SettingsError(
            f"{where} remote must be the name of a git remote, e.g. 'origin', got {shown(remote)}"
        )
    return GitSettings(model=model, remote=remote)


def branch_kind(name: str) -> str | None:
    """What kind of branch ``name`` is, whatever the model: ``main``, ``develop``, ``documentation``,
    ``feature``, ``research``, ``hotfix``; None for a name of no known kind or a malformed one.

    ``documentation`` is the docs publishing branch; ``documentation/x`` is of kind ``documentation``
    too, so check ``name == DOCUMENTATION`` where the difference matters.
    """
    if name in (MAIN, DEVELOP, DOCUMENTATION):
        return name
    prefix, _, rest = name.partition("/")
    if prefix not in PREFIXED_KINDS or not rest:
        return None
    parts = rest.split("/")
    if not all(_NAME_PART.match(part) and not part.endswith((".lock", ".")) for part in parts):
        return None
    if ".." in rest:
        return None
    return prefix


def allowed_branches(model: str) -> tuple[str, ...]:
    """The branch patterns ``model`` allows."""
    if model not in BRANCHES_OF_MODEL:
        raise ValueError(f"unknown branch model {model!r}; known: {', '.join(MODELS)}")
    return BRANCHES_OF_MODEL[model]


def valid_branch(name: str, model: str) -> bool:
    """Whether ``name`` is a branch ``model`` allows."""
    return branch_problem(name, model) is None


def branch_problem(name: str, model: str) -> str | None:
    """Why ``name`` is not a branch of ``model`` (with what to do), or None when it is."""
    allowed = allowed_branches(model)
    kind = branch_kind(name)
    if kind is not None:
        pattern = kind if name == kind else f"{kind}/*"
        if pattern in allowed:
            return None
    listing = ", ".join(allowed)
    prefix = name.partition("/")[0]
    if prefix in PREFIXED_KINDS and f"{prefix}/*" in allowed:
        return (
            f"branch {_shown(name)}: the part after '{prefix}/' must be words of letters, digits, '.', '_' "
            f"or '-' separated by '/', e.g. '{prefix}/short-description'"
        )
    return (
        f"branch {_shown(name)} is not part of the {model} model (allowed: {listing}); "
        f"rename it with `{_rename_command(name)}`"
    )


LONGEST_NAME_SHOWN = 100


def _shown(name: str) -> str:
    return (
        repr(name)
        if len(name) <= LONGEST_NAME_SHOWN
        else f"{name[:LONGEST_NAME_SHOWN]!r}... ({len(name)} chars)"
    )


def _rename_command(name: str) -> str:
    """``git branch -m OLD NEW``, each name quoted for a shell; a name too long to show is left out (git
    then renames the current branch)."""
    import shlex

    new = f"feature/{_suggest(name)}"
    old = [name] if len(name) <= LONGEST_NAME_SHOWN else []
    return shlex.join(["git", "branch", "-m", *old, new])


def _suggest(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name.rsplit("/", 1)[-1]).strip("-.")
    return cleaned[: LONGEST_NAME_SHOWN // 2].strip("-.") or "my-change"


def release_branch(model: str) -> str:
    """The branch releases are tagged on: ``main`` in both models."""
    allowed_branches(model)
    return MAIN


def must_be_merged_before_release(model: str) -> str | None:
    """The branch that must be merged into ``main`` before a release: ``develop`` under gitflow."""
    allowed_branches(model)
    return DEVELOP if model == "gitflow" else None


def deploy_branch(environment: str, model: str) -> str | None:
    """The only branch that may deploy to ``environment`` (a canonical name), or None when any may.

    Production deploys ``main`` in both models; staging deploys ``develop`` under gitflow and ``main``
    under github-flow; other environments take any branch.
    """
    allowed_branches(model)
    if environment == "production":
        return MAIN
    if environment == "staging":
        return DEVELOP if model == "gitflow" else MAIN
    return None


class BranchNameError(BadInput):
    """A branch name that the model does not allow, or no branch at all (a detached HEAD)."""


def check_branch(project: Project, branch: str = "") -> str:
    """The line approving ``branch`` (default: the current branch) under the project's model, else
    :class:`BranchNameError` saying what to do."""
    from shipflow.release.git import current_branch, repo_root

    model = git_settings(project).model
    name = branch or current_branch(repo_root(project.root))
    if name is None:
        raise BranchNameError("HEAD is detached, so there is no branch to check; `git switch BRANCH`")
    problem = branch_problem(name, model)
    if problem:
        raise BranchNameError(problem)
    return f"ok  branch {name!r} fits the {model} model ({', '.join(allowed_branches(model))})"


# --- the docs site's branches -----------------------------------------------------------------

DEPLOY, BUILD_ONLY = "deploy", "build"


class DocsBranchError(Refused):
    """The current branch may not publish the docs (or there is no branch)."""


def docs_action(branch: str | None) -> str:
    """What ``inv docs.deploy`` does on ``branch``: publish on ``documentation``, only build on
    ``documentation/*``, refuse elsewhere (DocsBranchError)."""
    if branch == DOCUMENTATION:
        return DEPLOY
    if branch is not None and branch.startswith(f"{DOCUMENTATION}/"):
        return BUILD_ONLY
    where = f"branch {branch!r}" if branch else "a detached HEAD"
    raise DocsBranchError(
        f"the docs are published only from the {DOCUMENTATION!r} branch (and built on {DOCUMENTATION}/*), "
        f"this is {where}: run `inv docs.build` to check them, or merge into {DOCUMENTATION}"
    )
