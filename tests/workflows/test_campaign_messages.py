"""Pause, resume, cancel in each phase; extend and top-up accepted and refused (stand-ins,
time skipping: time runs ahead only while a test waits on the result)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from core.contracts import ExtendRequest, TopUpRequest
from tests.workflows.campaign_stack import outcome, status_of
from tests.workflows.standins import (
    make_world,
    standin_worker,
    start,
    wait_for_status,
    wait_for_timeline,
)
from workflows.campaign import CampaignWorkflow


def typed(client: Client, handle: WorkflowHandle[Any, Any]) -> Any:
    return client.get_workflow_handle_for(CampaignWorkflow.run, handle.id)


async def test_pause_holds_polling_and_moves_the_end(skipping_client: Client) -> None:
    world = make_world(likes=1, earned=10, recipients=1)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        ends_before = (await status_of(handle)).closes_at
        assert ends_before is not None
        await handle.signal("pause", "checking the copy")
        await wait_for_status(handle, "paused")
        polls_while_paused = world.polls
        await asyncio.sleep(0.3)  # real time passes while paused; the end must move by it
        await handle.signal("resume")
        await wait_for_status(handle, "running")
        ends_after = (await status_of(handle)).closes_at
        doc = await outcome(handle)
    assert polls_while_paused == 0
    assert ends_after is not None and ends_after > ends_before
    assert doc.status == "closed"
    kinds = world.kinds()
    assert kinds.index("paused") < kinds.index("resumed") < kinds.index("closing")
    paused = next(r for r in world.timeline.values() if r.kind == "paused")
    assert paused.data["reason"] == "checking the copy" and paused.status == "paused"


async def test_signals_that_do_not_fit_change_nothing_and_are_noted(
    skipping_client: Client,
) -> None:
    world = make_world(likes=1, earned=10, recipients=1)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        await handle.signal("resume")
        await handle.signal("pause")
        await handle.signal("pause", "twice")
        await wait_for_status(handle, "paused")
        await handle.signal("resume")
        doc = await outcome(handle)
    assert doc.status == "closed"
    kinds = world.kinds()
    assert kinds.count("resume_ignored") == 1 and kinds.count("pause_ignored") == 1
    assert kinds.count("paused") == 1 and kinds.count("resumed") == 1


async def test_cancel_while_running_closes_early_and_pays_what_was_earned(
    skipping_client: Client,
) -> None:
    world = make_world(likes=3, earned=30, recipients=3)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        await handle.signal("cancel", "owner changed plans")
        doc = await outcome(handle)
    assert doc.status == "closed"
    assert world.paid == 30 and world.refunded == 970 and world.escrow_closed
    closing = next(r for r in world.timeline.values() if r.kind == "closing")
    assert closing.data["reason"] == "cancelled: owner changed plans"
    assert doc.engagement.polls <= 2  # no waiting for the end: the final fetch only


async def test_cancel_while_paused_closes_early(skipping_client: Client) -> None:
    world = make_world(likes=1, earned=10, recipients=1)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        await handle.signal("pause")
        await wait_for_status(handle, "paused")
        await handle.signal("cancel")
        doc = await outcome(handle)
    assert doc.status == "closed" and not doc.paused
    assert world.locked == world.paid + world.refunded


async def test_a_scheduled_campaign_cancelled_while_waiting_posts_and_locks_nothing(
    skipping_client: Client, time_skipping_env: WorkflowEnvironment
) -> None:
    world = make_world()
    start_at = await time_skipping_env.get_current_time() + timedelta(days=2)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker, start_at=start_at)
        await wait_for_timeline(world, "scheduled")
        await handle.signal("pause", "not yet")
        await wait_for_status(handle, "paused")
        await handle.signal("cancel", "launch moved")
        doc = await outcome(handle)
    assert doc.status == "cancelled" and doc.closed_at is not None
    assert world.posts == {} and world.locked == 0
    assert world.kinds() == ["scheduled", "paused", "cancel_requested", "cancelled"]


async def test_a_scheduled_campaign_starts_at_its_time(
    skipping_client: Client, time_skipping_env: WorkflowEnvironment
) -> None:
    world = make_world(likes=1, earned=10, recipients=1)
    start_at = await time_skipping_env.get_current_time() + timedelta(days=2)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker, start_at=start_at)
        doc = await outcome(handle)
    assert doc.status == "closed"
    assert doc.published_at is not None and doc.published_at >= start_at
    assert world.kinds()[:2] == ["scheduled", "publishing"]


async def test_cancel_during_the_first_post_closes_without_locking(
    skipping_client: Client,
) -> None:
    world = make_world(first_post_gate=asyncio.Event())
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await asyncio.wait_for(world.first_post_started.wait(), timeout=20)
        await handle.signal("cancel", "typo in the post")
        await wait_for_status(handle, "publishing")
        assert world.first_post_gate is not None
        world.first_post_gate.set()
        doc = await outcome(handle)
    # The post went out (nothing in flight is cut off), so it closes; nothing was locked.
    assert doc.status == "closed" and doc.posts.first == "post-1"
    assert world.locked == 0 and "second" not in world.posts


async def test_extend_accepted_and_refused(skipping_client: Client) -> None:
    world = make_world(likes=1, earned=10, recipients=1)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        campaign = typed(skipping_client, handle)
        await wait_for_status(handle, "running")
        ends = (await status_of(handle)).closes_at
        assert ends is not None
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await campaign.execute_update(CampaignWorkflow.extend, ExtendRequest(ends))
        assert "later than the current end" in str(refused.value.cause)
        later = ends + timedelta(hours=1)
        result = await campaign.execute_update(CampaignWorkflow.extend, ExtendRequest(later))
        assert result.closes_at == later
        doc = await outcome(handle)
    assert doc.closes_at == later and doc.status == "closed"
    assert doc.engagement.polls == 2 * 3600 // 300
    assert world.kinds().count("extended") == 1


async def test_top_up_accepted_and_refused(skipping_client: Client) -> None:
    world = make_world(likes=1, earned=10, recipients=1)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        campaign = typed(skipping_client, handle)
        await wait_for_status(handle, "running")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await campaign.execute_update(CampaignWorkflow.top_up, TopUpRequest(0))
        assert "greater than 0" in str(refused.value.cause)
        result = await campaign.execute_update(CampaignWorkflow.top_up, TopUpRequest(500))
        assert result.budget == 1_500
        doc = await outcome(handle)
    assert world.locked == 1_500 and world.refunded == 1_490
    assert doc.budget.total == 1_500 and doc.escrow.locked == 1_500


async def test_extend_refused_before_running_and_top_up_adds_to_the_first_lock(
    skipping_client: Client, time_skipping_env: WorkflowEnvironment
) -> None:
    world = make_world(likes=1, earned=10, recipients=1)
    start_at = await time_skipping_env.get_current_time() + timedelta(days=1)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker, start_at=start_at)
        campaign = typed(skipping_client, handle)
        await wait_for_status(handle, "scheduled")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await campaign.execute_update(
                CampaignWorkflow.extend, ExtendRequest(start_at + timedelta(days=9))
            )
        assert "no end time yet" in str(refused.value.cause)
        await campaign.execute_update(CampaignWorkflow.top_up, TopUpRequest(250))
        doc = await outcome(handle)
    assert world.locked == 1_250 and doc.budget.total == 1_250


async def test_pause_while_publishing_holds_the_next_step_until_resumed(
    skipping_client: Client,
) -> None:
    world = make_world(likes=1, earned=10, recipients=1, first_post_gate=asyncio.Event())
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await asyncio.wait_for(world.first_post_started.wait(), timeout=20)
        await handle.signal("pause", "legal review")
        await wait_for_status(handle, "paused")
        assert world.first_post_gate is not None
        world.first_post_gate.set()
        await wait_for_timeline(world, "first_posted")
        assert world.locked == 0  # held at the step boundary: no escrow while paused
        await handle.signal("resume")
        doc = await outcome(handle)
    assert doc.status == "closed" and world.locked == 1_000
    kinds = world.kinds()
    assert kinds.index("paused") < kinds.index("first_posted") < kinds.index("resumed")
    assert kinds.index("resumed") < kinds.index("escrow_locked")


async def test_pause_and_cancel_while_distributing_are_noted_and_ignored(
    skipping_client: Client,
) -> None:
    world = make_world(likes=2, earned=20, recipients=2, pay_gate=asyncio.Event())
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        result = asyncio.create_task(outcome(handle))
        await asyncio.wait_for(world.pay_started.wait(), timeout=20)
        await handle.signal("pause")
        await handle.signal("cancel")
        await wait_for_timeline(world, "cancel_ignored")
        assert world.pay_gate is not None
        world.pay_gate.set()
        doc = await result
    assert doc.status == "closed" and world.paid == 20
    assert {"pause_ignored", "cancel_ignored"} <= set(world.kinds())
    assert "paused" not in world.kinds()
