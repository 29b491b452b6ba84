"""The bad-input corpus: malformed settings files, bad flags, unknown environments and targets. Every case
is refused with one message and exit 2 (4 for the pytest plugin's config errors), never a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support import ShipflowCli, git

pytestmark = [pytest.mark.unit, pytest.mark.needs("git")]

PYPROJECT = '[project]\nname = "svc"\nversion = "0.1.0"\n\n[tool.shipflow.build]\nimage = "svc"\n'


@dataclass(frozen=True)
class Case:
    """Files written over a freshly initialised project, then one shipflow command line."""

    argv: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)
    exit_code: int = 2


CASES: dict[str, Case] = {
    "yaml not a mapping": Case(("test", "--", "-q"), {"tests_config.yaml": "- a\n- b\n"}, 4),
    "yaml syntax": Case(("test", "--", "-q"), {"tests_config.yaml": "test_groups: [unclosed\n"}, 4),
    "pyproject toml syntax": Case(("env.check",), {"pyproject.toml": "[tool.shipflow\nx = 1\n"}),
    "deploy toml syntax": Case(("deploy.status", "--env", "local"), {"deploy/deploy.toml": "app = \n"}),
    "deploy toml wrong type": Case(("deploy.status", "--env", "local"), {"deploy/deploy.toml": "app = 5\n"}),
    "env line without =": Case(("env.check", "--env", "test"), {"envs/.env.test": "ENV=test\nJUST A LINE\n"}),
    "env unclosed quote": Case(("env.check", "--env", "test"), {"envs/.env.test": 'ENV="test\n'}),
    "env undefined variable": Case(
        ("env.show", "--env", "test"), {"envs/.env.test": "ENV=${NOPE_NOT_SET}\n"}
    ),
    "env not utf-8": Case(("env.check", "--env", "test"), {"envs/.env.test": "ENV=t\udcffest\n"}),
    "unknown environment": Case(("env.show", "--env", "nowhere"), {}),
    "unknown deploy target": Case(("deploy.status", "--env", "staging"), {}),
    "flag without value": Case(("deploy.rollback", "--env"), {}),
    "negative seconds": Case(("deploy.rollback", "--env", "local", "--wait", "-5"), {}),
    "word for a count": Case(("deploy.audit", "--env", "local", "-n", "many"), {}),
    "unknown flag": Case(("deploy.prod", "--no-such-flag"), {}),
    "unknown task": Case(("no-such-task",), {}),
    "missing required flag": Case(("db.new",), {}),
    "empty migration message": Case(("db.new", "-m", ""), {}),
    "empty revision": Case(("db.migrate", "--to", ""), {}),
    "unknown ci provider": Case(("ci.generate", "--provider", "jenkins"), {}),
    "bake window in words": Case(("deploy.local", "--bake", "soon"), {}),
    "canary steps not increasing": Case(("deploy.local", "--canary", "50,10"), {}),
    "canary step of 100 percent": Case(("deploy.prod", "--yes", "--canary", "100"), {}),
    "unknown bake key": Case(
        ("deploy.status", "--env", "local"),
        {"deploy/deploy.toml": 'app = "svc"\n[bake]\nmax_error_rate = 0.1\n[targets.local]\n'},
    ),
    "bake ratio out of range": Case(
        ("deploy.status", "--env", "local"),
        {"deploy/deploy.toml": 'app = "svc"\n[bake]\nmax_error_ratio = 2\n[targets.local]\n'},
    ),
}


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from shipflow.scaffold import init_project

    root = tmp_path_factory.mktemp("corpus") / "svc"
    root.mkdir()
    git(root, "init", "-q")
    init_project(root, ci_providers=())
    (root / "pyproject.toml").write_text(PYPROJECT)
    return root


def project_for(initialised: Path, tmp_path: Path, files: dict[str, str]) -> Path:
    import shutil

    root = tmp_path / "svc"
    shutil.copytree(initialised, root)
    for relative, text in files.items():
        (root / relative).write_bytes(text.encode("utf-8", "surrogateescape"))
    return root


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_with_one_message_and_no_traceback(
    shipflow_cli: ShipflowCli, initialised: Path, tmp_path: Path, name: str
) -> None:
    case = CASES[name]
    root = project_for(initialised, tmp_path, case.files)
    done = shipflow_cli(*case.argv, cwd=root)
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert done.returncode == case.exit_code, output[-2000:]
