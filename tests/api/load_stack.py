"""An API whose worker the test starts and stops, and probes of the API's own connection pool.

``tests/api/conftest.py``'s stack keeps one worker for its whole life; the load and outage
tests need the worker gone (a restart) and back, and to see what the API's pool holds.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from core.config import Settings
from core.db import make_engine, session_factory
from tests.api.conftest import CAMPAIGN_BODY, OPERATOR_KEY, api_settings
from tests.api.standin_world import ApiWorld
from tests.helpers import new_worker, serve_asgi
from tests.workflows.standin_distribution import StandInDistributionWorkflow
from workflows.campaign import CampaignWorkflow


class PoolProbe:
    """Counts the connections the API's engine has checked out, through the pool's events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.checked_out = 0
        self.peak = 0
        # (method, path, connections checked out) as each answer started (ResponseProbe).
        self.held_at_answer: list[tuple[str, str, int]] = []

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "checkout", self._on_checkout)
        event.listen(engine, "checkin", self._on_checkin)

    def _on_checkout(self, *_args: Any) -> None:
        with self._lock:
            self.checked_out += 1
            self.peak = max(self.peak, self.checked_out)

    def _on_checkin(self, *_args: Any) -> None:
        with self._lock:
            self.checked_out -= 1


class ResponseProbe:
    """ASGI middleware: how many connections the API held as each answer started to go out
    (a session still open then stays open while a slow client reads)."""

    def __init__(self, app: ASGIApp, pool: PoolProbe) -> None:
        self.app = app
        self.pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def watched_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                held = (scope["method"], scope["path"], self.pool.checked_out)
                self.pool.held_at_answer.append(held)
            await send(message)

        await self.app(scope, receive, watched_send)


@dataclass
class ApiUnderTest:
    url: str
    app: FastAPI
    settings: Settings
    env: WorkflowEnvironment
    world: ApiWorld
    pool: PoolProbe
    worker: Worker | None = None
    _worker_exit: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    @property
    def engine(self) -> Engine:
        engine: Engine = self.app.state.engine
        return engine

    def client(self, key: str | None = OPERATOR_KEY, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60, **kwargs)

    async def start_worker(self) -> None:
        assert self.worker is None, "a worker is already running"
        worker = new_worker(
            self.env.client,
            CampaignWorkflow,
            StandInDistributionWorkflow,
            activities=self.world.activities(),
            task_queue=self.settings.task_queue,
        )
        await self._worker_exit.enter_async_context(worker)
        self.worker = worker

    async def stop_worker(self) -> None:
        """Nothing polls the task queue afterwards (a worker restart, or an outage)."""
        await self._worker_exit.aclose()
        self._worker_exit = contextlib.AsyncExitStack()
        self.worker = None


@contextlib.asynccontextmanager
async def serve_api(
    env: WorkflowEnvironment,
    database_url: str,
    *,
    api_database_url: str | None = None,
    with_worker: bool = True,
    **overrides: Any,
) -> AsyncIterator[ApiUnderTest]:
    """The API over real HTTP on ``database_url`` (migrated by the caller; the API may use
    ``api_database_url`` to the same database, e.g. to name its connections), its activities'
    worker on its own engine so the API's pool counts only the API."""
    settings = api_settings(api_database_url or database_url, env, **overrides)
    worker_engine = make_engine(database_url, pool_size=4)
    world = ApiWorld(session_factory(worker_engine))
    app = create_app(settings, live_poll_interval=0.1)
    probe = PoolProbe()
    app.add_middleware(ResponseProbe, pool=probe)
    try:
        async with serve_asgi(app) as url:
            probe.attach(app.state.engine)
            api = ApiUnderTest(
                url=url, app=app, settings=settings, env=env, world=world, pool=probe
            )
            try:
                if with_worker:
                    await api.start_worker()
                yield api
            finally:
                await api.stop_worker()
    finally:
        worker_engine.dispose()


async def new_owner_key(api: ApiUnderTest, name: str) -> str:
    async with api.client() as operator:
        answer = await operator.post(
            "/v1/owners", json={"name": name, "x_user_id": f"x-{name}", "wallet": f"w-{name}"}
        )
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["api_key"]
    return key


async def new_draft(owner: httpx.AsyncClient, text: str) -> str:
    body = {**CAMPAIGN_BODY, "first_post": {"text": text}, "second_post": {"text": f"{text}!"}}
    created = await owner.post("/v1/campaigns", json=body)
    assert created.status_code == 201, created.text
    campaign_id: str = created.json()["id"]
    return campaign_id
