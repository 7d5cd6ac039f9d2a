"""When a query times out, the API asks the task queue who polls it (api/worker_presence.py):
on the real dev server, a live worker counts, a task queue nobody polls does not, and a
Temporal that cannot say is not taken for "no worker"."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.campaign_status import current_status
from api.problems import Problem
from api.temporal_gateway import TemporalGateway
from api.worker_presence import NO_POLL_WINDOW, no_worker_polls, seconds_since_last_poll
from core.db import make_engine, session_factory
from core.models import Campaign
from tests.helpers import assert_eventually


@workflow.defn(sandboxed=False)
class WaitsForever:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def waiting_workflow(client: Client, task_queue: str) -> str:
    handle = await client.start_workflow(
        WaitsForever.run, id=f"presence-{uuid.uuid4()}", task_queue=task_queue
    )
    return handle.id


@pytest.fixture
async def live_worker(dev_env: WorkflowEnvironment) -> AsyncIterator[str]:
    task_queue = f"presence-{uuid.uuid4()}"
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[WaitsForever]):
        yield task_queue


async def test_a_live_worker_is_seen_polling(
    dev_env: WorkflowEnvironment, live_worker: str
) -> None:
    workflow_id = await waiting_workflow(dev_env.client, live_worker)

    async def seen_polling() -> None:
        since = await seconds_since_last_poll(dev_env.client, workflow_id)
        assert since is not None and since < NO_POLL_WINDOW.total_seconds(), since

    await assert_eventually(seen_polling, timeout=10)
    assert not await no_worker_polls(dev_env.client, workflow_id)


async def test_a_task_queue_nobody_polls_has_no_worker(dev_env: WorkflowEnvironment) -> None:
    workflow_id = await waiting_workflow(dev_env.client, f"nobody-{uuid.uuid4()}")
    assert await seconds_since_last_poll(dev_env.client, workflow_id) == math.inf
    assert await no_worker_polls(dev_env.client, workflow_id)


async def test_a_workflow_temporal_does_not_know_is_not_called_workerless(
    dev_env: WorkflowEnvironment,
) -> None:
    # Temporal cannot say (here: no such workflow): "did not answer" stands, not "no worker".
    assert await seconds_since_last_poll(dev_env.client, f"missing-{uuid.uuid4()}") is None
    assert not await no_worker_polls(dev_env.client, f"missing-{uuid.uuid4()}")


async def test_a_message_query_that_times_out_with_no_worker_says_so(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    """The server answers "no poller seen" only at the end of the query's deadline less a
    second, so a short deadline (or a loaded server) times out first: here, deterministically.
    The API still says no worker is running, not only that it did not answer."""
    workflow_id = await waiting_workflow(dev_env.client, f"nobody-{uuid.uuid4()}")
    campaign = Campaign(
        owner_id="o-1",
        name="Nobody polls",
        type="awareness",
        asset="native",
        budget=100,
        spec={},
        status="running",
        workflow_id=workflow_id,
    )
    gateway = TemporalGateway(
        dev_env.client.service_client.config.target_host, dev_env.client.namespace
    )
    engine = make_engine(sqlite_url)
    try:
        with pytest.raises(Problem) as refused:
            await current_status(
                gateway,
                session_factory(engine),
                campaign,
                with_retrying=False,
                query_timeout=timedelta(seconds=1),
            )
    finally:
        engine.dispose()
    assert refused.value.status == 503
    assert "no worker is running" in refused.value.detail, refused.value.detail
