"""Temporal stalls after the API has connected (a frontend that hangs, a network that drops
packets): every request still answers within a bound, readers with the recorded status, and
the API talks to Temporal as before once it flows again."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import eventually
from tests.api.load_stack import new_draft, new_owner_key, serve_api

pytestmark = pytest.mark.slow

# The longest wait on Temporal a request makes (a status query for a message: 10 s, then up
# to 2 s asking who polls its task queue) and some scheduling; far from "forever".
BOUND = 15.0


class StallingProxy:
    """A TCP relay to Temporal's frontend that can stop passing bytes, connections held open."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        for pump in (self._pump(reader, up_writer), self._pump(up_reader, writer)):
            task = asyncio.create_task(pump)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        try:
            yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        finally:
            self.flowing.set()
            for task in list(self._tasks):
                task.cancel()
            server.close()
            await server.wait_closed()


async def timed(request: Any) -> tuple[Any, float]:
    started = time.monotonic()
    answer = await request
    return answer, time.monotonic() - started


async def test_a_stalled_temporal_bounds_every_request(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    proxy = StallingProxy(dev_env.client.service_client.config.target_host)
    async with (
        proxy.serving() as address,
        serve_api(dev_env, sqlite_url, temporal_address=address) as api,
    ):
        key = await new_owner_key(api, "stalled")
        async with api.client(key) as owner, api.client() as operator:
            draft = await new_draft(owner, "Stalled draft")
            campaign_id = await new_draft(owner, "Stalled")
            path = f"/v1/campaigns/{campaign_id}"
            assert (await owner.post(f"{path}/publish")).status_code == 202

            async def running(source: str) -> None:
                answer = await owner.get(f"{path}/status")
                assert answer.status_code == 200, answer.text
                assert (answer.json()["status"], answer.json()["source"]) == ("running", source)

            await eventually(lambda: running("query"), timeout=30)

            proxy.flowing.clear()
            status, elapsed = await timed(owner.get(f"{path}/status"))
            assert status.status_code == 200, status.text
            assert status.json()["source"] == "recorded" and elapsed < BOUND, elapsed
            for method, target in [
                ("POST", f"{path}/pause"),
                ("POST", f"/v1/campaigns/{draft}/publish"),
                ("POST", f"{path}/publish"),
            ]:
                answer, elapsed = await timed(owner.request(method, target))
                assert answer.status_code == 503, (target, answer.text)
                assert answer.headers["Retry-After"] == "1"
                assert elapsed < BOUND, (target, elapsed)
            ready, elapsed = await timed(operator.get("/readyz"))
            assert ready.status_code == 503 and elapsed < BOUND
            assert ready.json()["checks"]["temporal"] == "down"

            proxy.flowing.set()
            await eventually(lambda: running("query"), timeout=30)
            assert (await owner.post(f"{path}/pause")).status_code == 202


async def test_a_worker_gone_for_a_while_is_a_503_not_a_conflict(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    # About 20 s after the last poll, the server stops waiting on the task queue and answers
    # "no poller seen for task queue recently" (FAILED_PRECONDITION, the status code of a
    # workflow in the wrong state): the API must not call that a 409.
    async with serve_api(dev_env, sqlite_url) as api:
        key = await new_owner_key(api, "gone")
        async with api.client(key) as owner:
            campaign_id = await new_draft(owner, "Gone")
            path = f"/v1/campaigns/{campaign_id}"
            assert (await owner.post(f"{path}/publish")).status_code == 202

            async def running() -> None:
                answer = await owner.get(f"{path}/status")
                assert answer.json()["status"] == "running", answer.text

            await eventually(running, timeout=30)
            await api.stop_worker()

            async def refused_as_no_worker() -> None:
                status = await owner.get(f"{path}/status")
                assert status.status_code == 200 and status.json()["source"] == "recorded"
                paused = await owner.post(f"{path}/pause")
                if paused.status_code == 409:  # not retried by eventually: fails at once
                    pytest.fail(f"a worker that is down answered as a conflict: {paused.text}")
                assert paused.status_code == 503, paused.text
                assert "no worker is running" in paused.json()["detail"], paused.text

            # ~25 s here; once over 90 s while a 1,000-campaign benchmark loaded the machine
            await eventually(refused_as_no_worker, timeout=180)
