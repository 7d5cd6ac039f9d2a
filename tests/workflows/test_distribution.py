"""DistributionWorkflow on the time-skipping server with the real reward activities and a
keyed in-test ledger: batches, progress to the parent, a missing parent, continue-as-new."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy.engine import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.rewards import RewardActivities
from clients.ports import Receipt, TransferOrder
from core.contracts import (
    DistributionInput,
    DistributionResult,
    RewardTableRequest,
    distribution_workflow_id_for,
)
from core.db import session_factory
from tests.helpers import new_worker
from tests.workflows.campaign_stack import record_history_if_asked
from tests.workflows.distribution_parent import DistributionParentWorkflow, ParentReport
from tests.workflows.distribution_seed import LIKE_RATE, KeyedLedger, seed_campaign
from workflows.distribution import MAX_BATCHES_PER_RUN, PARALLEL_BATCHES, DistributionWorkflow


async def build_table(activities: RewardActivities, campaign_id: str, budget: int) -> None:
    await ActivityEnvironment().run(
        activities.build_reward_table, RewardTableRequest(campaign_id, budget)
    )


async def test_progress_reaches_the_parent_after_every_batch(
    time_skipping_env: WorkflowEnvironment, engine: Engine
) -> None:
    client = time_skipping_env.client
    seeded = seed_campaign(engine, recipients=30, unregistered=3)
    ledger = KeyedLedger()
    activities = RewardActivities(session_factory(engine), ledger)
    await build_table(activities, seeded.campaign_id, seeded.budget)
    worker = new_worker(
        client,
        DistributionParentWorkflow,
        DistributionWorkflow,
        activities=[activities.pay_batch],
    )
    async with worker:
        report: ParentReport = await client.execute_workflow(
            DistributionParentWorkflow.run,
            DistributionInput(seeded.campaign_id, "escrow-1", parent_workflow_id="", batch_size=7),
            id=f"parent-{uuid.uuid4()}",
            task_queue=worker.task_queue,
        )
        child = client.get_workflow_handle(distribution_workflow_id_for(seeded.campaign_id))
        await record_history_if_asked(child, "distribution")

    # Batches side by side end in any order: each report shows more paid than the one before.
    paid = [p.paid for p in report.reports]
    assert paid[0] == 7 and paid[-1] == 30 and len(paid) <= 5
    assert paid == sorted(set(paid))
    assert all(p.paid + p.pending == 30 for p in report.reports)
    final = report.result.progress
    assert final == report.reports[-1]
    assert (final.recipients, final.paid, final.failed) == (30, 30, 0)
    assert final.paid_amount == 30 * LIKE_RATE == seeded.budget
    assert sorted(str(r.to) for r in ledger.receipts.values()) == sorted(seeded.wallets.values())


async def test_a_missing_parent_does_not_stop_the_payouts(
    time_skipping_env: WorkflowEnvironment, engine: Engine
) -> None:
    client = time_skipping_env.client
    seeded = seed_campaign(engine, recipients=5)
    ledger = KeyedLedger()
    activities = RewardActivities(session_factory(engine), ledger)
    await build_table(activities, seeded.campaign_id, seeded.budget)
    async with new_worker(client, DistributionWorkflow, activities=[activities.pay_batch]) as w:
        result: DistributionResult = await client.execute_workflow(
            DistributionWorkflow.run,
            DistributionInput(
                seeded.campaign_id,
                "escrow-1",
                parent_workflow_id=f"gone-{uuid.uuid4()}",
                batch_size=2,
            ),
            id=distribution_workflow_id_for(seeded.campaign_id),
            task_queue=w.task_queue,
        )
    assert (result.progress.paid, result.progress.pending) == (5, 0)
    assert len(ledger.receipts) == 5


async def test_continues_as_new_carrying_its_place(
    time_skipping_env: WorkflowEnvironment, engine: Engine
) -> None:
    client = time_skipping_env.client
    recipients = MAX_BATCHES_PER_RUN + 10
    seeded = seed_campaign(engine, recipients=recipients)
    ledger = KeyedLedger()
    activities = RewardActivities(session_factory(engine), ledger)
    await build_table(activities, seeded.campaign_id, seeded.budget)
    workflow_id = distribution_workflow_id_for(seeded.campaign_id)
    async with new_worker(client, DistributionWorkflow, activities=[activities.pay_batch]) as w:
        handle = await client.start_workflow(
            DistributionWorkflow.run,
            DistributionInput(seeded.campaign_id, "escrow-1", parent_workflow_id="", batch_size=1),
            id=workflow_id,
            task_queue=w.task_queue,
        )
        first_run = handle.first_execution_run_id or handle.result_run_id
        result: DistributionResult = await handle.result()

    assert (result.progress.paid, result.progress.pending) == (recipients, 0)
    assert ledger.calls == recipients, "no batch was paid twice across the runs"
    first_history = await client.get_workflow_handle(workflow_id, run_id=first_run).fetch_history()
    events = first_history.events
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    carried = events[-1].workflow_execution_continued_as_new_event_attributes
    assert carried.new_execution_run_id
    scheduled = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert len(scheduled) == MAX_BATCHES_PER_RUN


class OverlapLedger(KeyedLedger):
    """Holds each batch until ``wanted`` are in flight at once (or a deadline passes, so a
    ledger called one batch at a time fails the test instead of hanging it)."""

    def __init__(self, wanted: int) -> None:
        super().__init__()
        self.wanted = wanted
        self.in_flight = 0
        self.most_in_flight = 0
        self.enough = asyncio.Event()

    async def transfer_batch(
        self, escrow_id: str, transfers: Sequence[TransferOrder]
    ) -> list[Receipt]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self.in_flight >= self.wanted:
            self.enough.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.enough.wait(), timeout=10)
            return await super().transfer_batch(escrow_id, transfers)
        finally:
            self.in_flight -= 1


async def test_batches_of_a_known_table_are_paid_side_by_side_each_once(
    time_skipping_env: WorkflowEnvironment, engine: Engine
) -> None:
    client = time_skipping_env.client
    seeded = seed_campaign(engine, recipients=40)
    ledger = OverlapLedger(wanted=PARALLEL_BATCHES)
    activities = RewardActivities(session_factory(engine), ledger)
    await build_table(activities, seeded.campaign_id, seeded.budget)
    request = DistributionInput(
        seeded.campaign_id, "escrow-1", parent_workflow_id="", batch_size=4, recipients=40
    )
    async with new_worker(client, DistributionWorkflow, activities=[activities.pay_batch]) as w:
        handle = await client.start_workflow(
            DistributionWorkflow.run,
            request,
            id=distribution_workflow_id_for(seeded.campaign_id),
            task_queue=w.task_queue,
        )
        result: DistributionResult = await handle.result()
    assert ledger.most_in_flight == PARALLEL_BATCHES, "the batches went one after another"
    assert (result.progress.paid, result.progress.pending) == (40, 0)
    assert ledger.calls == 10 and len(ledger.receipts) == 40  # ten windows, each paid once
    assert sorted(str(r.to) for r in ledger.receipts.values()) == sorted(seeded.wallets.values())


class GatedLedger(KeyedLedger):
    """Holds the first batch until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.gate = asyncio.Event()

    async def transfer_batch(
        self, escrow_id: str, transfers: Sequence[TransferOrder]
    ) -> list[Receipt]:
        self.started.set()
        await self.gate.wait()
        return await super().transfer_batch(escrow_id, transfers)


# 0: the cancel comes during the first batch, alone; 5: during the windows side by side.
@pytest.mark.parametrize("known_recipients", [0, 5])
async def test_a_cancel_through_temporal_does_not_cut_the_payouts_short(
    time_skipping_env: WorkflowEnvironment, engine: Engine, known_recipients: int
) -> None:
    client = time_skipping_env.client
    seeded = seed_campaign(engine, recipients=5)
    ledger = GatedLedger()
    activities = RewardActivities(session_factory(engine), ledger)
    await build_table(activities, seeded.campaign_id, seeded.budget)
    async with new_worker(client, DistributionWorkflow, activities=[activities.pay_batch]) as w:
        handle = await client.start_workflow(
            DistributionWorkflow.run,
            DistributionInput(
                seeded.campaign_id,
                "escrow-1",
                parent_workflow_id="",
                batch_size=2,
                recipients=known_recipients,
            ),
            id=distribution_workflow_id_for(seeded.campaign_id),
            task_queue=w.task_queue,
        )
        await asyncio.wait_for(ledger.started.wait(), timeout=20)
        await handle.cancel()
        ledger.gate.set()
        result = await handle.result()
        ended_as = (await handle.describe()).status
    assert (result.progress.paid, result.progress.pending) == (5, 0)
    assert len(ledger.receipts) == 5 and ended_as == WorkflowExecutionStatus.COMPLETED
