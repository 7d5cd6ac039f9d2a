"""Compensation when a step cannot succeed, early close, and a long campaign that continues
as new (stand-in activities, time skipping)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import Client

from tests.workflows.campaign_stack import outcome
from tests.workflows.standins import make_world, standin_worker, start


async def test_a_failed_second_post_refunds_closes_and_deletes(skipping_client: Client) -> None:
    world = make_world(fail_step="second_post")
    async with standin_worker(skipping_client, world) as worker:
        doc = await outcome(await start(skipping_client, world, worker))
    assert doc.status == "failed"
    assert doc.failure is not None and "second_post refused" in doc.failure
    assert world.refunded == world.locked == 1_000 and world.escrow_closed
    assert world.deleted == ["post-1"]
    assert world.kinds()[-2:] == ["compensating", "failed"]
    failed = world.timeline[max(world.timeline)]
    assert failed.status == "failed" and "second_post refused" in failed.data["reason"]


async def test_a_failed_first_post_fails_with_nothing_locked(skipping_client: Client) -> None:
    world = make_world(fail_step="first_post")
    async with standin_worker(skipping_client, world) as worker:
        doc = await outcome(await start(skipping_client, world, worker))
    assert doc.status == "failed" and world.locked == 0 and world.deleted == []


async def test_a_failed_distribution_refunds_the_rest(skipping_client: Client) -> None:
    world = make_world(likes=2, earned=20, recipients=2, fail_step="distribution")
    async with standin_worker(skipping_client, world) as worker:
        doc = await outcome(await start(skipping_client, world, worker))
    assert doc.status == "failed" and world.escrow_closed
    assert world.locked == world.paid + world.refunded


async def test_earned_out_budget_closes_early(skipping_client: Client) -> None:
    world = make_world(likes=100, earned=1_000, recipients=100, exhausted=True)
    async with standin_worker(skipping_client, world) as worker:
        doc = await outcome(await start(skipping_client, world, worker))
    closing = next(r for r in world.timeline.values() if r.kind == "closing")
    assert closing.data["reason"] == "budget earned"
    assert doc.engagement.polls == 2  # the poll that saw it, then the final fetch
    assert doc.status == "closed" and world.refunded == 0


@pytest.mark.slow
async def test_a_30_day_campaign_continues_as_new_and_closes_on_time(
    skipping_client: Client,
) -> None:
    """30 days polling every 10 minutes: 4,320 polls, ~47,000 events, ten-odd runs.

    Every minute for 30 days (43,200 polls) is ``bench/campaign_polls.py --days 30``: Java's
    time-skipping server slows as its in-memory histories grow (3 days at one poll a minute took
    49 s here, 30 days more than 13 minutes), which is too long for every test run.
    """
    world = make_world(likes=5, earned=50, recipients=5)
    world.definition.duration_seconds = 30 * 24 * 3600
    world.definition.poll_interval_seconds = 600
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        doc = await outcome(handle)
        latest = await skipping_client.get_workflow_handle(handle.id).describe()
    assert doc.status == "closed"
    assert doc.engagement.polls == 30 * 24 * 6  # every 10 minutes, the last one the final fetch
    assert latest.run_id != handle.first_execution_run_id  # it continued as new
    assert doc.published_at is not None and doc.closes_at is not None
    assert timedelta(days=30) <= doc.closes_at - doc.published_at < timedelta(days=30, minutes=1)
    assert doc.closed_at is not None and doc.closed_at >= doc.closes_at
    seqs = sorted(world.timeline)
    assert seqs == list(range(1, len(seqs) + 1))  # one timeline across the runs
