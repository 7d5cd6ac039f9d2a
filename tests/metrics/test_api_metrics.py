"""The API's ``GET /metrics``, scraped over real HTTP after real requests: counts and
latencies by route template, method and status; raw paths never become labels."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.migrate import upgrade
from tests.api.conftest import Stack, new_owner, run_stack
from tests.metrics.scrape import label_values, scrape, value_of

pytestmark = pytest.mark.dev_server

REQUESTS = "http_requests_total"
LATENCY_COUNT = "http_request_duration_seconds_count"
CAMPAIGN_ROUTE = "/v1/campaigns/{campaign_id}"


@pytest.fixture(scope="module")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('api-metrics') / 'campaigns.db'}"
    upgrade(database_url)
    async for started in run_stack(dev_env, database_url):
        yield started


async def test_requests_are_counted_by_route_template_and_status(stack: Stack) -> None:
    _, key = await new_owner(stack)
    unknown_ids = [f"no-such-{uuid.uuid4().hex}" for _ in range(3)]
    async with stack.client(key) as owner, stack.client(None) as anonymous:
        for campaign_id in unknown_ids:
            assert (await owner.get(f"/v1/campaigns/{campaign_id}")).status_code == 404
        assert (await anonymous.get("/v1/campaigns")).status_code == 401
        assert (await owner.post("/v1/campaigns", json={"name": ""})).status_code == 422
        scanned = f"/wp-admin/{uuid.uuid4().hex}"
        assert (await anonymous.get(scanned)).status_code == 404
        assert (await anonymous.get("/healthz")).status_code == 200

    # An operator's scraper carries no key.
    samples = await scrape(f"{stack.url}/metrics")

    assert value_of(samples, REQUESTS, handler=CAMPAIGN_ROUTE, method="GET", status="404") == 3
    assert value_of(samples, LATENCY_COUNT, handler=CAMPAIGN_ROUTE, method="GET", status="404") == 3
    assert value_of(samples, REQUESTS, handler="/v1/campaigns", method="GET", status="401") == 1
    assert value_of(samples, REQUESTS, handler="/v1/campaigns", method="POST", status="422") == 1
    assert value_of(samples, REQUESTS, handler="/v1/owners", method="POST", status="201") == 1
    assert value_of(samples, REQUESTS, handler="/healthz", method="GET", status="200") == 1
    # A path no route matches is counted under ``none``: scans cannot grow the series.
    assert value_of(samples, REQUESTS, handler="none", status="404") == 1
    handlers = label_values(samples, REQUESTS, "handler")
    assert not any(campaign_id in h for h in handlers for campaign_id in unknown_ids)
    assert scanned not in handlers
    # The scrape itself is not a request the API serves its clients.
    assert "/metrics" not in handlers


async def test_metrics_stay_out_of_the_client_schema(stack: Stack) -> None:
    schema = (await stack.operator.get("/openapi.json")).json()
    assert "/metrics" not in schema["paths"]


async def test_apps_built_side_by_side_count_apart(stack: Stack) -> None:
    # Tests (and a process embedding the API twice) build more than one app: each has its own
    # registry, so the second neither fails on duplicate series nor sees the first's counts.
    other = create_app(stack.settings)
    transport = httpx.ASGITransport(app=other)
    async with httpx.AsyncClient(transport=transport, base_url="http://other") as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert 'handler="/v1/owners"' not in response.text
