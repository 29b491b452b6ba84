"""How a deploy runs migrations, without a database: the `migrate` setting and alembic's output read."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.deploy.commands import parse_current, run_container
from shipflow.deploy.settings import load_deploy_settings
from shipflow.project import SettingsError

pytestmark = pytest.mark.unit


def test_deploy_settings_read_the_migrate_mode_and_refuse_others(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    path = tmp_path / "deploy" / "deploy.toml"
    path.write_text('app = "x"\n[targets.local]\n')
    settings = load_deploy_settings(tmp_path, {})
    assert settings.migrate == "before-switch"
    path.write_text('app = "x"\nmigrate = "on-start"\n[targets.local]\n')
    settings = load_deploy_settings(tmp_path, {})
    target = settings.target("local")
    from shipflow.deploy.commands import Release, slots_of

    argv = run_container(settings, target, slots_of(target)[0], Release("x:1", "1" * 40, "v1"))
    assert "MIGRATE_ON_START=true" in argv
    path.write_text('app = "x"\nmigrate = "sometimes"\n[targets.local]\n')
    with pytest.raises(SettingsError, match="migrate must be"):
        load_deploy_settings(tmp_path, {})


def test_alembic_current_output_gives_the_revision() -> None:
    assert parse_current("0003 (head)\n") == "0003"
    assert parse_current("") is None
