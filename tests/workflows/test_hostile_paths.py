"""The paths operators and clients really take, each tried the way it breaks: a cancel from
the Web UI in every phase, a lock that committed before its activity failed, retried and
racing top-ups, reads that X refuses (stand-ins, time skipping)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.testing import WorkflowEnvironment

from core.contracts import TopUpRequest
from core.temporal import CAMPAIGN_STATUS
from tests.workflows.campaign_stack import outcome, record_history_if_asked, status_of
from tests.workflows.standins import (
    make_world,
    standin_worker,
    start,
    wait_for_status,
    wait_for_timeline,
)


async def execution_status(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionStatus | None:
    return (await handle.describe()).status


# --- a cancel through Temporal is the campaign's cancel by another road ---------------------


async def test_cancel_through_temporal_while_scheduled_posts_and_locks_nothing(
    skipping_client: Client, time_skipping_env: WorkflowEnvironment
) -> None:
    world = make_world()
    start_at = await time_skipping_env.get_current_time() + timedelta(days=2)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker, start_at=start_at)
        await wait_for_status(handle, "scheduled")
        await handle.cancel()
        doc = await outcome(handle)
        ended_as = await execution_status(handle)
    assert doc.status == "cancelled" and world.posts == {} and world.locked == 0
    assert ended_as == WorkflowExecutionStatus.CANCELED
    assert "cancel_requested" in world.kinds()


async def test_cancel_through_temporal_during_the_first_post_lets_it_finish(
    skipping_client: Client,
) -> None:
    world = make_world(first_post_gate=asyncio.Event())
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await asyncio.wait_for(world.first_post_started.wait(), timeout=20)
        await handle.cancel()
        await wait_for_timeline(world, "cancel_requested")
        assert world.first_post_gate is not None
        world.first_post_gate.set()
        doc = await outcome(handle)
        ended_as = await execution_status(handle)
    # The post in flight was not cut off (its outcome is known and recorded); nothing locked.
    assert doc.posts.first == "post-1" and doc.status == "closed"
    assert world.locked == 0 and "second" not in world.posts
    assert ended_as == WorkflowExecutionStatus.CANCELED


async def test_cancel_through_temporal_while_distributing_pays_everyone(
    skipping_client: Client,
) -> None:
    world = make_world(likes=4, earned=40, recipients=4, pay_gate=asyncio.Event())
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        result = asyncio.create_task(outcome(handle))  # lets time run ahead to the end
        await asyncio.wait_for(world.pay_started.wait(), timeout=20)
        await handle.cancel()
        await wait_for_timeline(world, "cancel_ignored")
        assert world.pay_gate is not None
        world.pay_gate.set()
        doc = await result
        ended_as = await execution_status(handle)
    assert doc.status == "closed" and world.paid == 40 and world.refunded == 960
    assert world.escrow_closed and ended_as == WorkflowExecutionStatus.CANCELED


async def test_cancel_through_temporal_while_paused_closes_early(skipping_client: Client) -> None:
    world = make_world(likes=2, earned=20, recipients=2)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        await handle.signal("pause")
        await wait_for_status(handle, "paused")
        await handle.cancel()
        doc = await outcome(handle)
    assert doc.status == "closed" and not doc.paused
    assert world.paid == 20 and world.locked == world.paid + world.refunded


# --- compensation from what was recorded ----------------------------------------------------


async def test_a_lock_that_committed_before_its_activity_failed_is_released(
    skipping_client: Client,
) -> None:
    world = make_world(fail_step="lock_after_commit")
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        doc = await outcome(handle)
        ended_as = await execution_status(handle)
    # The workflow never learnt the escrow; compensation found it and gave it all back.
    assert world.locked == 1_000 and world.refunded == 1_000 and world.escrow_closed
    assert world.deleted == ["post-1"]
    assert doc.status == "failed" and doc.failure and "lock_after_commit" in doc.failure
    assert ended_as == WorkflowExecutionStatus.FAILED
    assert world.kinds()[-2:] == ["compensating", "failed"]


async def test_a_top_up_waiting_on_a_lock_that_fails_locks_nothing(
    skipping_client: Client,
) -> None:
    world = make_world(fail_step="lock", lock_gate=asyncio.Event())
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await asyncio.wait_for(world.lock_started.wait(), timeout=20)
        update = await handle.start_update(
            "top_up",
            TopUpRequest(500, key="during-lock"),
            id="during-lock",
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        assert world.lock_gate is not None
        world.lock_gate.set()
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await update.result()
        doc = await outcome(handle)
    assert "nothing was locked" in str(refused.value.cause)
    assert world.top_up_keys == [] and doc.budget.total == 1_000
    assert doc.status == "failed"
    # Compensation ran after the top-up gave up: nothing locked afterwards, nothing left.
    assert world.locked == world.refunded


# --- top-ups are idempotent by their key ----------------------------------------------------


async def test_a_top_up_retried_with_its_key_locks_once(skipping_client: Client) -> None:
    world = make_world(likes=1, earned=10, recipients=1)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        # Different update IDs: a retry that Temporal's own dedup cannot catch.
        first = await handle.execute_update(
            "top_up", TopUpRequest(500, key="order-7"), id="a", result_type=dict
        )
        again = await handle.execute_update(
            "top_up", TopUpRequest(500, key="order-7"), id="b", result_type=dict
        )
        other = await handle.execute_update(
            "top_up", TopUpRequest(200, key="order-8"), id="c", result_type=dict
        )
        doc = await outcome(handle)
    assert first == again == {"budget": 1_500} and other == {"budget": 1_700}
    assert world.top_up_keys == ["order-7", "order-8"] and world.locked == 1_700
    assert doc.budget.total == doc.escrow.locked == 1_700
    assert world.kinds().count("topped_up") == 2


async def test_racing_top_ups_with_one_key_lock_once(skipping_client: Client) -> None:
    world = make_world(likes=1, earned=10, recipients=1, top_up_gate=asyncio.Event())
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        racing = [
            await handle.start_update(
                "top_up",
                TopUpRequest(300, key="same"),
                id=f"race-{n}",
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                result_type=dict,
            )
            for n in range(3)
        ]
        assert world.top_up_gate is not None
        world.top_up_gate.set()
        results = await asyncio.gather(*(update.result() for update in racing))
        doc = await outcome(handle)
    assert results == [{"budget": 1_300}] * 3
    assert world.locked == 1_300 and doc.budget.total == 1_300


async def test_a_top_up_taken_while_the_definition_loads_is_kept(
    skipping_client: Client,
) -> None:
    world = make_world(likes=1, earned=10, recipients=1, load_gate=asyncio.Event())
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        update = await handle.start_update(
            "top_up",
            TopUpRequest(500, key="early"),
            id="early",
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            result_type=dict,
        )
        assert world.load_gate is not None
        world.load_gate.set()
        answered = await update.result()
        doc = await outcome(handle)
    assert answered == {"budget": 1_500}
    assert doc.budget.total == world.locked == 1_500  # the first lock took both


# --- reads that X refuses ---------------------------------------------------------------------


async def test_refused_reads_hold_the_campaign_in_attention_until_resumed(
    skipping_client: Client, time_skipping_env: WorkflowEnvironment
) -> None:
    world = make_world(likes=2, earned=20, recipients=2, poll_error="ReadRefused")
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        # To the first poll; a held campaign has no timer, so waiting on its result would
        # skip time to the run's own timeout.
        await time_skipping_env.sleep(timedelta(minutes=6))
        await wait_for_status(handle, "attention")
        held = await status_of(handle)
        searched = (await handle.describe()).typed_search_attributes.get(CAMPAIGN_STATUS)
        await handle.signal("pause")  # does not fit: already held
        world.poll_error = None  # the operator fixed the read token
        await handle.signal("resume")
        doc = await outcome(handle)
        await record_history_if_asked(handle, "attention")
    assert held.attention is not None and "401" in held.attention.reason
    assert held.attention.step == "poll engagement" and searched == "attention"
    assert doc.status == "closed" and world.paid == 20 and doc.attention is None
    kinds = world.kinds()
    assert kinds.index("attention") < kinds.index("resumed") < kinds.index("closing")
    assert "pause_ignored" in kinds and "poll_failed" not in kinds


async def test_a_refused_final_fetch_waits_for_resume_before_paying(
    skipping_client: Client,
) -> None:
    world = make_world(likes=3, earned=30, recipients=3)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        world.poll_error = "ReadRefused"
        await handle.signal("cancel", "wrap it up")
        await wait_for_status(handle, "attention")
        held = await status_of(handle)
        await handle.signal("cancel", "again")  # closing already: changes nothing
        polls_before = world.polls
        world.poll_error = None
        await handle.signal("resume")
        doc = await outcome(handle)
    assert held.attention is not None and held.attention.step == "final engagement fetch"
    assert held.rewards.paid == 0 and world.polls == polls_before + 1
    assert doc.status == "closed" and world.paid == 30
    kinds = world.kinds()
    assert kinds.index("closing") < kinds.index("attention") < kinds.index("resumed")
    assert kinds.index("resumed") < kinds.index("distributing")
    assert "cancel_ignored" in kinds
