"""The worker's Prometheus endpoint, scraped over real HTTP while the real worker runs
campaigns through the sandbox on the dev server: Temporal's SDK metrics and the campaign's
own, with their labels and values checked against what the world (the sandbox) saw."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from temporalio.client import Client, WorkflowHandle
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment

from core import metrics
from core.contracts import StatusDocument
from core.db import make_engine
from core.temporal import connect, prometheus_runtime, report_campaigns_needing_attention
from tests.helpers import assert_eventually
from tests.metrics.scrape import Sample, free_port, scrape, value_of
from tests.workflows.campaign_stack import (
    OWNER_X_ID,
    awareness_spec,
    campaign_stack,
    outcome,
    status_of,
)

pytestmark = pytest.mark.dev_server

# The reporter counts this often in tests; the worker's default is ATTENTION_COUNT_EVERY.
COUNT_EVERY = timedelta(milliseconds=200)


@dataclass
class MetricsWorld:
    """A client whose runtime serves Prometheus on its own port, as the worker's does."""

    client: Client
    runtime: Runtime
    url: str

    async def scrape(self) -> list[Sample]:
        return await scrape(self.url)


async def metrics_world(env: WorkflowEnvironment) -> MetricsWorld:
    # A runtime's Prometheus listener lives as long as the runtime: a dedicated one per test
    # module, on a free port, so no other test's metrics mix in.
    port = free_port()
    runtime = prometheus_runtime("127.0.0.1", port)
    client = await connect(
        env.client.service_client.config.target_host, env.client.namespace, runtime=runtime
    )
    return MetricsWorld(client, runtime, f"http://127.0.0.1:{port}/metrics")


@pytest.fixture(scope="module")
async def world(dev_env: WorkflowEnvironment) -> MetricsWorld:
    return await metrics_world(dev_env)


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@contextlib.asynccontextmanager
async def reporting_attention(client: Client, runtime: Runtime) -> AsyncIterator[None]:
    task = asyncio.create_task(
        report_campaigns_needing_attention(client, runtime, every=COUNT_EVERY)
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def running_with_first_post(handle: WorkflowHandle[Any, Any]) -> str:
    async def check() -> str:
        doc = await status_of(handle)
        assert doc.status == "running", doc.status
        assert doc.posts.first is not None
        return doc.posts.first

    return await assert_eventually(check, timeout=60)


async def in_status(handle: WorkflowHandle[Any, Any], status: str) -> StatusDocument:
    async def check() -> StatusDocument:
        doc = await status_of(handle)
        assert doc.status == status, doc.status
        return doc

    return await assert_eventually(check, timeout=60)


async def gauge_reads(world: MetricsWorld, expected: int, *, namespace: str) -> None:
    async def check() -> None:
        samples = await world.scrape()
        value = value_of(samples, metrics.NEEDING_ATTENTION, namespace=namespace)
        assert value == expected, (value, expected)

    await assert_eventually(check, timeout=30)


async def attention_now(client: Client) -> int:
    return (await client.count_workflows(metrics.NEEDING_ATTENTION_QUERY)).count


async def test_a_campaign_held_in_attention_then_closed_is_counted_once_per_step(
    world: MetricsWorld, sqlite_engine: Engine, dev_env: WorkflowEnvironment
) -> None:
    namespace = world.client.namespace
    async with (
        campaign_stack(world.client, sqlite_engine) as stack,
        reporting_attention(world.client, world.runtime),
    ):
        stack.register("u1", "u2")
        campaign_id = stack.draft(awareness_spec())
        before = await attention_now(world.client)  # other tests' campaigns may wait too
        async with stack.worker():
            handle = await stack.publish(campaign_id)
            first = await running_with_first_post(handle)
            await stack.engage(
                first,
                {"user_id": "u1", "kind": "like"},
                {"user_id": "u1", "kind": "repost"},
                {"user_id": "u2", "kind": "like"},
                {"user_id": "stranger", "kind": "like"},
            )
            # X refuses the read token at the close's final fetch: held in attention.
            await stack.sandbox("POST", "/tokens/revoke", {"token": stack.app_token})
            await handle.signal("cancel", "metrics test")
            await in_status(handle, "attention")
            await gauge_reads(world, before + 1, namespace=namespace)
            # A worker that starts now reports the right number at once: it counts, it does
            # not add up moves it saw (an up/down gauge would read 0 here).
            restarted = await metrics_world(dev_env)
            async with reporting_attention(restarted.client, restarted.runtime):
                await gauge_reads(restarted, before + 1, namespace=namespace)
            await stack.sandbox("POST", "/tokens/restore", {"token": stack.app_token})
            await handle.signal("resume")
            doc = await outcome(handle)
            await gauge_reads(world, before, namespace=namespace)
        payouts = await stack.transfers("payout")
        samples = await world.scrape()

    assert doc.status == "closed", doc.failure
    assert {t["to"] for t in payouts} == {"wallet-u1", "wallet-u2"}
    queue = stack.task_queue
    transitions = {
        s.labels["status"]: s.value
        for s in samples
        if s.named(metrics.TRANSITIONS) and s.labels.get("task_queue") == queue
    }
    # closing twice: once on cancel, once more when resumed from attention back to closing.
    assert transitions == {
        "publishing": 1,
        "running": 1,
        "closing": 2,
        "attention": 1,
        "distributing": 1,
        "closed": 1,
    }
    assert value_of(samples, metrics.PAYOUTS, task_queue=queue, outcome="paid") == len(payouts)
    assert value_of(samples, metrics.PAYOUTS, task_queue=queue, outcome="failed") == 0
    assert value_of(samples, metrics.EFFECTS_FOUND_DONE, task_queue=queue) == 0
    # Temporal's own, from the same endpoint, labelled with the task queue.
    assert (
        value_of(
            samples,
            "temporal_workflow_completed",
            task_queue=queue,
            workflow_type="CampaignWorkflow",
        )
        == 1
    )
    assert (
        value_of(
            samples,
            "temporal_workflow_completed",
            task_queue=queue,
            workflow_type="DistributionWorkflow",
        )
        == 1
    )
    assert (
        value_of(
            samples,
            "temporal_activity_execution_latency_count",
            task_queue=queue,
            activity_type="publish_first_post",
        )
        == 1
    )


async def test_a_post_whose_answer_was_lost_is_found_done_not_posted_again(
    world: MetricsWorld, sqlite_engine: Engine
) -> None:
    async with campaign_stack(world.client, sqlite_engine) as stack:
        spec = awareness_spec()
        campaign_id = stack.draft(spec)
        text = spec["first_post"]["text"]
        # X makes every post and reads, and the answers never arrive.
        await stack.sandbox("PUT", "/faults", {"lose_response_rate": 1.0, "target": "x"})
        async with stack.worker():
            handle = await stack.publish(campaign_id)

            async def posted() -> None:
                assert any(p["text"] == text for p in await stack.posts())

            await assert_eventually(posted, timeout=30)
            await stack.sandbox("DELETE", "/faults")
            await running_with_first_post(handle)
            await handle.signal("cancel", "metrics test")
            doc = await outcome(handle)
        posts = [p for p in await stack.posts() if p["author_id"] == OWNER_X_ID]
        samples = await world.scrape()

    assert doc.status == "closed", doc.failure
    assert [p["text"] for p in posts].count(text) == 1
    queue = stack.task_queue
    found = value_of(
        samples,
        metrics.EFFECTS_FOUND_DONE,
        task_queue=queue,
        kind="first-post",
        how=metrics.LOOKED_UP,
        activity_type="publish_first_post",
    )
    assert found == 1
    assert value_of(samples, metrics.EFFECTS_FOUND_DONE, task_queue=queue) == 1


async def test_every_attempt_stopped_by_a_rate_limit_is_counted(
    world: MetricsWorld, sqlite_engine: Engine
) -> None:
    async with campaign_stack(world.client, sqlite_engine) as stack:
        campaign_id = stack.draft(awareness_spec())
        # X allows no call at all (0 per 1 s window) until the faults are cleared.
        await stack.sandbox(
            "PUT", "/faults", {"rate_limit": {"limit": 0, "window_s": 1.0}, "target": "x"}
        )
        async with stack.worker():
            handle = await stack.publish(campaign_id)

            async def waited() -> None:
                samples = await world.scrape()
                assert value_of(samples, metrics.RATE_LIMIT_WAITS, task_queue=stack.task_queue)

            await assert_eventually(waited, timeout=30)
            await stack.sandbox("DELETE", "/faults")
            await running_with_first_post(handle)
            await handle.signal("cancel", "metrics test")
            doc = await outcome(handle)
        samples = await world.scrape()
        history = await handle.fetch_history()

    assert doc.status == "closed", doc.failure
    # The attempt that posted is the one the history records; every one before it was
    # refused by the rate limit, and each of those is one wait.
    scheduled = {
        event.event_id: event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    }
    started_of = {
        scheduled[event.activity_task_started_event_attributes.scheduled_event_id]: (
            event.activity_task_started_event_attributes.attempt
        )
        for event in history.events
        if event.HasField("activity_task_started_event_attributes")
    }
    waits = value_of(
        samples,
        metrics.RATE_LIMIT_WAITS,
        task_queue=stack.task_queue,
        activity_type="publish_first_post",
    )
    assert waits >= 1
    assert waits == started_of["publish_first_post"] - 1
