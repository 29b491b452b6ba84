"""The gates as a user runs them, against a small HTTP server on 127.0.0.1 (no deploy needed): a failing
integration test exits with pytest's code and its output is masked; a broken locustfile fails the load
gate with Locust's last lines, masked."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ShipflowCli

pytestmark = pytest.mark.cli

CANARY = "canary-gates-cli-9d2f4a61"


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the gate's output, not the server's."""


@pytest.fixture
def server() -> Iterator[int]:
    """An HTTP server on a free 127.0.0.1 port answering every GET with 200; its port."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def project(root: Path, port: int) -> Path:
    """A project whose local target's public URL is the server, with a secret in its env file."""
    (root / "envs").mkdir()
    (root / "deploy").mkdir()
    (root / "tests" / "integration").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.shipflow.gates.load]\nlocustfile = "locustfile.py"\n')
    (root / "envs" / ".env.local").write_text(f"SECRET_KEY={CANARY}\n")
    (root / "deploy" / "deploy.toml").write_text(f'app = "app"\n[targets.local]\nproxy_port = {port}\n')
    (root / "tests_config.yaml").write_text(
        "test_groups:\n  integration:\n    enabled: false\n    paths: [tests/integration]\n"
    )
    return root


def test_a_failing_integration_test_exits_with_pytests_code_and_its_output_is_masked(
    shipflow_cli: ShipflowCli, tmp_path: Path, server: int
) -> None:
    root = project(tmp_path, server)
    (root / "tests" / "integration" / "test_api.py").write_text(
        "import urllib.request\n\n"
        "def test_health(base_url):\n"
        "    assert urllib.request.urlopen(base_url + '/health').status == 200\n\n"
        "def test_leaks(base_url):\n"
        f"    print('the key is {CANARY}')\n"
        f"    assert base_url == 'https://elsewhere', '{CANARY}'\n"
    )

    done = shipflow_cli("gate.integration", "--env", "local", cwd=root)

    assert done.returncode == 1, done.stdout + done.stderr
    assert CANARY not in done.stdout + done.stderr and "****" in done.stdout
    assert "1 failed, 1 passed" in done.stdout
    assert (
        "gate.integration local: failed (pytest exit 1): 2 tests, 1 failed, 0 errors, 0 skipped"
        in done.stdout
    )
    assert (root / "reports" / "integration-local.xml").is_file()


def test_a_project_without_the_integration_group_is_told_how_to_add_it(
    shipflow_cli: ShipflowCli, tmp_path: Path, server: int
) -> None:
    root = project(tmp_path, server)
    (root / "tests_config.yaml").write_text("test_groups:\n  unit: true\n")

    done = shipflow_cli("gate.integration", "--env", "local", cwd=root)

    assert done.returncode == 2
    assert "declares no 'integration' group; add one, off by default" in done.stderr


def test_a_locustfile_that_does_not_load_fails_the_load_gate_with_its_lines_masked(
    shipflow_cli: ShipflowCli, tmp_path: Path, server: int
) -> None:
    root = project(tmp_path, server)
    (root / "locustfile.py").write_text(f"raise RuntimeError('cannot start: {CANARY}')\n")

    done = shipflow_cli("gate.load", "--env", "local", "--run-time", "1", cwd=root)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "gate.load failed: locust exited" in done.stderr and "reports/load-local.log" in done.stderr
    assert "cannot start: ****" in done.stderr and CANARY not in done.stdout + done.stderr
