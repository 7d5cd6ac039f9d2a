"""The API application: ``create_app()`` builds it; the lifespan builds what it holds.

The database engine (one bounded pool) and the Temporal client are made once here, held on
``app.state`` and shared by every request. ``campaigns api`` serves it with uvicorn
(``factory=True``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator, metrics

from api.campaign_status import current_status
from api.deps import OPERATOR
from api.live import LiveHub, going_away_on_signals
from api.problems import install_problem_handlers
from api.routes import campaign_messages, campaigns, health, live, owners, participants, top_ups
from api.routes.campaigns import load_visible
from api.schemas import StatusDocumentPublic
from api.temporal_gateway import TOP_UP_WAIT, TemporalGateway
from core.config import Settings, get_settings
from core.db import make_engine, session_factory
from core.logging import get_logger

DESCRIPTION = """Durable social reward campaigns on Temporal.

Authenticate with `Authorization: Bearer <api key>`: an owner's key acts on that owner's
campaigns; the operator key on everything, and it alone manages owners and participants.
Errors are `application/problem+json`.
"""

DOCS_URL = "/docs"
DOCS_STATIC_URL = "/docs-static"


def create_app(
    settings: Settings | None = None,
    *,
    live_poll_interval: float = 1.0,
    top_up_wait: float = TOP_UP_WAIT.total_seconds(),
) -> FastAPI:
    """``top_up_wait``: seconds a top-up request waits for its lock before it answers 202."""
    resolved = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            resolved.database_url,
            pool_size=resolved.db_pool_size,
            max_overflow=resolved.db_max_overflow,
            pool_timeout=resolved.db_pool_timeout,
        )
        sessions = session_factory(engine)
        gateway = TemporalGateway(resolved.temporal_address, resolved.temporal_namespace)
        await gateway.start()

        async def fetch_status(campaign_id: str) -> StatusDocumentPublic:
            campaign = await asyncio.to_thread(load_visible, sessions, OPERATOR, campaign_id)
            # The gateway routes use (app.state), so one swapped in is used here too.
            return await current_status(app.state.temporal, sessions, campaign)

        hub = LiveHub(fetch_status, interval=live_poll_interval)
        app.state.settings = resolved
        app.state.engine = engine
        app.state.session_factory = sessions
        app.state.temporal = gateway
        app.state.live_hub = hub
        app.state.top_up_wait = timedelta(seconds=top_up_wait)
        try:
            with going_away_on_signals(hub):
                yield
        finally:
            await hub.close()
            engine.dispose()
            # The Temporal client has no close: its connection ends with the process.
            get_logger("campaigns.api").info("api stopped")

    # Swagger UI from the files fastapi-offline ships, served by this app: the docs render on a
    # machine with no internet (FastAPI's default loads them from a CDN). No ReDoc: its page
    # still loads its logo from redoc.ly.
    app = FastAPIOffline(
        title="campaigns",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=DOCS_URL,
        redoc_url=None,
        static_url=DOCS_STATIC_URL,
        # No badge from the online validator: it would send the document to another host.
        swagger_ui_parameters={"validatorUrl": None},
    )
    install_problem_handlers(app)
    for module in (health, owners, participants, campaigns, campaign_messages, top_ups, live):
        app.include_router(module.router)
    expose_request_metrics(app)
    return app


def expose_request_metrics(app: FastAPI) -> None:
    """``GET /metrics``: requests and their latency by route template, method and status.

    Labels are route templates (``/v1/campaigns/{campaign_id}``), never raw paths, and a path
    no route matches is ``none``, so a scan of random URLs cannot grow the series. Outside the
    OpenAPI schema, and without a key, like any scrape target: it names routes and counts,
    no campaign or owner. One registry per app, so apps built side by side count apart.
    """
    registry = CollectorRegistry()
    instrumentator = Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["^/metrics$"],
        registry=registry,
    )
    instrumentator.add(
        metrics.requests(registry=registry),
        metrics.latency(registry=registry),
    )
    instrumentator.instrument(app).expose(app, include_in_schema=False)
