"""The API under test: served over real HTTP, on the dev server, with a worker running the real
``CampaignWorkflow`` on its own task queue: the real activities over the campaign rows, and
stand-ins for X and the ledger (tests/api/standin_world.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.config import Settings
from core.db import make_engine, session_factory
from core.migrate import upgrade
from tests.api.standin_world import ApiWorld
from tests.helpers import assert_eventually, new_worker, serve_asgi
from tests.workflows.standin_distribution import StandInDistributionWorkflow
from workflows.campaign import CampaignWorkflow

T = TypeVar("T")

OPERATOR_KEY = "operator-test-key"

CAMPAIGN_BODY: dict[str, Any] = {
    "name": "Launch week",
    "type": "awareness",
    "asset": "native",
    "budget": 1_000,
    "rewards": {"like": 10, "repost": 30, "quote": 50, "reply": 20},
    "first_post": {"text": "We launched!"},
    "second_post": {"text": "Terms: once per person and kind."},
    "duration_seconds": 3600,
    "poll_interval_seconds": 60,
}


@dataclass
class Stack:
    url: str
    app: FastAPI
    settings: Settings
    operator: httpx.AsyncClient
    world: ApiWorld

    def client(self, key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)


def api_settings(database_url: str, env: WorkflowEnvironment, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "temporal_address": env.client.service_client.config.target_host,
        "temporal_namespace": env.client.namespace,
        "task_queue": f"api-{uuid.uuid4()}",
        "operator_api_key": OPERATOR_KEY,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture(scope="module")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'campaigns.db'}"
    upgrade(database_url)
    async for started in run_stack(dev_env, database_url):
        yield started


async def run_stack(
    env: WorkflowEnvironment, database_url: str, **setting_overrides: Any
) -> AsyncIterator[Stack]:
    settings = api_settings(database_url, env, **setting_overrides)
    engine = make_engine(database_url, pool_size=4)
    world = ApiWorld(session_factory(engine))
    app = create_app(settings, live_poll_interval=0.1)
    async with (
        new_worker(
            env.client,
            CampaignWorkflow,
            StandInDistributionWorkflow,
            activities=world.activities(),
            task_queue=settings.task_queue,
        ),
        serve_asgi(app) as url,
    ):
        operator_headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
        async with httpx.AsyncClient(
            base_url=url, headers=operator_headers, timeout=30
        ) as operator:
            yield Stack(url=url, app=app, settings=settings, operator=operator, world=world)
    engine.dispose()


async def new_owner(stack: Stack, name: str = "Acme") -> tuple[str, str]:
    """Creates an owner through the API; returns (owner id, API key)."""
    response = await stack.operator.post(
        "/v1/owners",
        json={"name": name, "x_user_id": f"x-{uuid.uuid4().hex[:8]}", "wallet": f"w-{name}"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], body["api_key"]


async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 15.0) -> T:
    """``assert_eventually`` for async checks, typed."""
    checker: Callable[[], Awaitable[Any]] = check
    result: T = await assert_eventually(checker, timeout=timeout)
    return result
