"""A full pool, a database that refuses connections, a Temporal that does not answer: each is a
quick answer (a 503 problem with ``Retry-After``, or the recorded status for a reader), never a
500 after the old 30 s pool timeout."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.temporal_gateway import CONNECT_TIMEOUT
from tests.api.conftest import OPERATOR_KEY, api_settings, eventually
from tests.api.load_stack import new_draft, new_owner_key, serve_api
from tests.helpers import serve_asgi

POOL_TIMEOUT = 0.5
# A quick answer: the pool's timeout and some scheduling on two shared cores.
QUICK = POOL_TIMEOUT + 4


def assert_unavailable(answer: httpx.Response, detail: str) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["Retry-After"] == "1"
    assert detail in answer.json()["detail"], answer.json()


async def timed(request: Coroutine[Any, Any, httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = await request
    return answer, time.monotonic() - started


async def test_a_full_pool_is_a_quick_503_with_retry_after_then_answers_again(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    async with serve_api(
        dev_env,
        sqlite_url,
        with_worker=False,
        db_pool_size=2,
        db_max_overflow=0,
        db_pool_timeout=POOL_TIMEOUT,
    ) as api:
        key = await new_owner_key(api, "pool")
        async with api.client(key) as owner, api.client() as operator:
            campaign_id = await new_draft(owner, "Pool")
            # Every pooled connection taken (a stuck request, a long report, a leak).
            held = [api.engine.connect() for _ in range(2)]
            try:
                for client, method, path in [
                    (owner, "GET", "/v1/campaigns"),  # the key lookup needs a connection
                    (operator, "GET", "/v1/campaigns"),  # the route's own session
                    (owner, "GET", f"/v1/campaigns/{campaign_id}/status"),
                    (owner, "GET", f"/v1/campaigns/{campaign_id}/timeline"),
                    (operator, "POST", f"/v1/campaigns/{campaign_id}/publish"),
                ]:
                    answer, elapsed = await timed(client.request(method, path))
                    assert_unavailable(answer, "the database is busy")
                    assert elapsed < QUICK, (method, path, elapsed)
            finally:
                for connection in held:
                    connection.close()
            assert (await owner.get("/v1/campaigns")).status_code == 200
            assert (await owner.get(f"/v1/campaigns/{campaign_id}/status")).status_code == 200


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_database_that_refuses_connections_is_a_503_not_a_500(
    dev_env: WorkflowEnvironment,
) -> None:
    database_url = f"postgresql://postgres@127.0.0.1:{closed_port()}/test"
    app = create_app(api_settings(database_url, dev_env))
    async with serve_asgi(app) as url:
        owner_headers = {"Authorization": "Bearer ck_not_checked_yet"}
        async with (
            httpx.AsyncClient(base_url=url, headers=owner_headers, timeout=30) as owner,
            httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}, timeout=30
            ) as operator,
        ):
            for client, path in [(owner, "/v1/campaigns"), (operator, "/v1/campaigns/abc")]:
                answer, elapsed = await timed(client.get(path))
                assert_unavailable(answer, "the database is unavailable")
                assert elapsed < QUICK


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """A TCP port that accepts connections and never says a word (a hung Temporal frontend)."""
    peers: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        for writer in peers:
            writer.close()
        server.close()
        await server.wait_closed()


CONCURRENT = 20


async def test_a_temporal_that_does_not_answer_bounds_every_request(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    # A running campaign, its document recorded, served by an API on the real dev server.
    async with serve_api(dev_env, sqlite_url) as api:
        key = await new_owner_key(api, "hung")
        async with api.client(key) as owner:
            campaign_id = await new_draft(owner, "Hung")
            assert (await owner.post(f"/v1/campaigns/{campaign_id}/publish")).status_code == 202
            path = f"/v1/campaigns/{campaign_id}"

            async def running() -> None:
                answer = await owner.get(f"{path}/status")
                assert answer.json()["status"] == "running", answer.text

            await eventually(running, timeout=30)
    # A second API on the same database whose Temporal hangs.
    async with silent_server() as address:
        app = create_app(api_settings(sqlite_url, dev_env, temporal_address=address))
        async with (
            serve_asgi(app) as url,
            httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as owner,
        ):
            readers = await asyncio.gather(
                *(timed(owner.get(f"{path}/status")) for _ in range(CONCURRENT))
            )
            # One connect attempt at a time, and the ones behind it fail at once, not in turn.
            bound = CONNECT_TIMEOUT.total_seconds() * 2 + 2
            for answer, elapsed in readers:
                assert answer.status_code == 200, answer.text
                assert answer.json()["source"] == "recorded"
                assert answer.json()["status"] == "running"
                assert elapsed < bound, elapsed
            paused, elapsed = await timed(owner.post(f"{path}/pause"))
            assert_unavailable(paused, "unreachable")
            assert elapsed < bound
            listed = await owner.get("/v1/campaigns")
            assert listed.status_code == 200 and listed.json()["total"] == 1
