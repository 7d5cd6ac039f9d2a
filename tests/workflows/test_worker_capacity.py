"""The ``CAMPAIGNS_WORKER_*`` capacity settings reach the Temporal worker, and a value the
SDK would refuse is refused at the setting, by its name."""

from __future__ import annotations

import httpx
import pytest
from temporalio.client import Client

from core.config import Settings, SettingsError, get_settings
from core.db import make_engine, session_factory
from tests.workflows.conftest import skipping_client  # noqa: F401  (the fixture)
from worker import build_worker, capacity_options


async def test_the_capacity_settings_configure_the_worker(
    skipping_client: Client,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    sqlite_url: str,
) -> None:
    for name, value in {
        "MAX_CACHED_WORKFLOWS": "7",
        "MAX_CONCURRENT_WORKFLOW_TASKS": "3",
        "MAX_CONCURRENT_ACTIVITIES": "11",
        "WORKFLOW_TASK_POLLERS": "2",
        "ACTIVITY_TASK_POLLERS": "4",
    }.items():
        monkeypatch.setenv(f"CAMPAIGNS_WORKER_{name}", value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    async with httpx.AsyncClient() as http:
        worker = build_worker(
            skipping_client,
            task_queue="capacity",
            sessions=session_factory(make_engine(sqlite_url)),
            http=http,
            x_base_url="http://127.0.0.1:9",
            ledger_base_url="http://127.0.0.1:9/ledger",
            **capacity_options(settings),
        )
    config = worker.config()
    assert config.get("max_cached_workflows") == 7
    assert config.get("max_concurrent_workflow_tasks") == 3
    assert config.get("max_concurrent_activities") == 11
    assert config.get("max_concurrent_workflow_task_polls") == 2
    assert config.get("max_concurrent_activity_task_polls") == 4


def test_one_workflow_poller_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPAIGNS_WORKER_WORKFLOW_TASK_POLLERS", "1")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match="CAMPAIGNS_WORKER_WORKFLOW_TASK_POLLERS"):
            get_settings()
    finally:
        get_settings.cache_clear()
