"""Where the metrics are served, and what a bad or busy port does: one line naming the
setting, before anything starts."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.devstack import child_env, plan_dev_stack, print_banner
from core.config import Settings, SettingsError, get_settings
from tests.cli.test_stack_errors import assert_one_line_error, clean_env, run_campaigns
from worker import metrics_runtime


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_an_empty_port_turns_the_worker_metrics_off(
    monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    monkeypatch.setenv("CAMPAIGNS_WORKER_METRICS_PORT", "")
    settings = get_settings()
    assert settings.worker_metrics_port == 0
    assert metrics_runtime(settings) is None


@pytest.mark.parametrize("value", ["70000", "-1", "nine"])
def test_a_bad_port_names_the_setting(
    value: str, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    monkeypatch.setenv("CAMPAIGNS_WORKER_METRICS_PORT", value)
    with pytest.raises(SettingsError, match="CAMPAIGNS_WORKER_METRICS_PORT"):
        get_settings()


def test_a_worker_whose_metrics_port_is_taken_says_so_in_one_line(
    busy_port: int, tmp_path: Path
) -> None:
    env = clean_env(CAMPAIGNS_WORKER_METRICS_PORT=str(busy_port))
    result = run_campaigns("worker", env=env, cwd=tmp_path)
    assert_one_line_error(result, "CAMPAIGNS_WORKER_METRICS_PORT", str(busy_port))


def test_the_dev_stack_checks_the_worker_metrics_port_before_it_starts(
    busy_port: int, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    env = clean_env(
        CAMPAIGNS_WORKER_METRICS_PORT=str(busy_port), CAMPAIGNS_STATE_DIR=str(state_dir)
    )
    result = run_campaigns("dev", env=env, cwd=tmp_path)
    assert_one_line_error(result, f"port {busy_port}", "CAMPAIGNS_WORKER_METRICS_PORT")
    assert not state_dir.exists(), "nothing may start before the ports are checked"


def test_the_dev_stack_gives_the_worker_its_port_and_prints_both_addresses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = plan_dev_stack(Settings(state_dir=tmp_path, api_port=18000))
    env = child_env(stack, "k")
    assert env["CAMPAIGNS_WORKER_METRICS_PORT"] == "9464"
    assert any(e.setting == "CAMPAIGNS_WORKER_METRICS_PORT" for e in stack.endpoints)
    print_banner(stack, "k", env)
    banner = capsys.readouterr().out
    assert "http://127.0.0.1:9464/metrics" in banner
    assert re.search(r"Ledger\s+escrow contract at http://127.0.0.1:8001/evm\n", banner)
    assert "http://127.0.0.1:18000/metrics" in banner


def test_a_dev_stack_without_worker_metrics_says_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = plan_dev_stack(Settings(state_dir=tmp_path, worker_metrics_port=0))
    env = child_env(stack, "k")
    assert env["CAMPAIGNS_WORKER_METRICS_PORT"] == "0"
    assert all(e.setting != "CAMPAIGNS_WORKER_METRICS_PORT" for e in stack.endpoints)
    print_banner(stack, "k", env)
    assert re.search(r"Worker metrics\s+off\n", capsys.readouterr().out)
