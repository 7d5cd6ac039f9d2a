"""DistributionWorkflow against the sandbox ledger over real HTTP: 20,000 recipients, and lost
responses with retries; the sandbox's ground truth must show one payout per recipient."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.rewards import RewardActivities
from clients.ledger import LedgerClient
from core.contracts import DistributionInput, RewardTableRequest, distribution_workflow_id_for
from core.db import make_engine, session_factory
from sandbox.app import create_app
from tests.helpers import assert_eventually, new_worker, serve_asgi
from tests.workflows.distribution_parent import DistributionParentWorkflow, ParentReport
from tests.workflows.distribution_seed import SeededCampaign, seed_campaign
from workflows.distribution import DistributionWorkflow


@dataclass
class Sandbox:
    http: httpx.AsyncClient
    url: str
    ledger: LedgerClient

    async def open_escrow(self, seeded: SeededCampaign) -> str:
        owner = f"owner-{seeded.campaign_id}"
        funded = await self.http.post(
            f"{self.url}/sandbox/accounts", json={"account": owner, "balance": seeded.budget}
        )
        funded.raise_for_status()
        escrow = await self.ledger.create_escrow(
            f"{seeded.campaign_id}:escrow",
            campaign_id=seeded.campaign_id,
            owner_wallet=owner,
            asset="native",
        )
        await self.ledger.lock(
            f"{seeded.campaign_id}:lock", escrow_id=escrow.id, amount=seeded.budget
        )
        return escrow.id

    async def faults(self, **settings: Any) -> None:
        (await self.http.put(f"{self.url}/sandbox/faults", json=settings)).raise_for_status()

    async def payouts(self) -> list[dict[str, Any]]:
        answer = await self.http.get(f"{self.url}/sandbox/truth/transfers")
        answer.raise_for_status()
        return [t for t in answer.json()["transfers"] if t["kind"] == "payout"]


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with serve_asgi(create_app()) as url, httpx.AsyncClient(timeout=30) as http:
        yield Sandbox(http, url, LedgerClient(http, f"{url}/ledger"))


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    """One database is enough where the database is not what is tested."""
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


async def distribute(
    env: WorkflowEnvironment,
    engine: Engine,
    sandbox: Sandbox,
    seeded: SeededCampaign,
    batch_size: int = 500,
    faults: dict[str, Any] | None = None,
) -> ParentReport:
    activities = RewardActivities(session_factory(engine), sandbox.ledger)
    table = await ActivityEnvironment().run(
        activities.build_reward_table, RewardTableRequest(seeded.campaign_id, seeded.budget)
    )
    assert table.recipients == len(seeded.wallets)
    escrow_id = await sandbox.open_escrow(seeded)
    if faults:
        await sandbox.faults(**faults)
    client = env.client
    worker = new_worker(
        client, DistributionParentWorkflow, DistributionWorkflow, activities=[activities.pay_batch]
    )
    async with worker:
        report: ParentReport = await client.execute_workflow(
            DistributionParentWorkflow.run,
            DistributionInput(seeded.campaign_id, escrow_id, "", batch_size=batch_size),
            id=f"parent-{uuid.uuid4()}",
            task_queue=worker.task_queue,
        )
    return report


def assert_one_payout_per_recipient(
    payouts: list[dict[str, Any]], seeded: SeededCampaign, amount: int
) -> None:
    keys = Counter(t["key"] for t in payouts)
    assert max(keys.values()) == 1, "a key was paid twice"
    assert Counter(t["to"] for t in payouts) == Counter(seeded.wallets.values())
    assert set(keys) == {f"{seeded.campaign_id}:payout:{user}" for user in seeded.wallets}
    assert {t["amount"] for t in payouts} == {amount}


@pytest.mark.slow
async def test_twenty_thousand_recipients_are_each_paid_once(
    time_skipping_env: WorkflowEnvironment, sandbox: Sandbox, engine: Engine
) -> None:
    seeded = seed_campaign(engine, recipients=20_000, unregistered=500)

    report = await distribute(time_skipping_env, engine, sandbox, seeded)

    final = report.result.progress
    assert (final.recipients, final.paid, final.failed, final.pending) == (20_000, 20_000, 0, 0)
    assert final.paid_amount == seeded.budget
    # At most one report per batch of 500; side by side, a batch ending after one that saw
    # more sends none, so the reports only grow.
    paid = [p.paid for p in report.reports]
    assert len(paid) <= 40 and paid[0] == 500 and paid[-1] == 20_000
    assert paid == sorted(set(paid)) and all(n % 500 == 0 for n in paid)
    payouts = await sandbox.payouts()
    assert len(payouts) == 20_000
    assert_one_payout_per_recipient(payouts, seeded, amount=10)
    escrow = await sandbox.ledger.get_escrow(payouts[0]["escrow"])
    assert (escrow.locked, escrow.paid, escrow.balance) == (seeded.budget, seeded.budget, 0)


async def test_lost_responses_then_retries_still_pay_each_recipient_once(
    time_skipping_env: WorkflowEnvironment, sandbox: Sandbox, engine: Engine
) -> None:
    seeded = seed_campaign(engine, recipients=600, unregistered=20)
    # Only lost responses: every failed call was committed by the ledger before it failed.
    faults = {"lose_response_rate": 0.5, "target": "ledger", "seed": 7}

    report = await distribute(
        time_skipping_env, engine, sandbox, seeded, batch_size=50, faults=faults
    )

    await sandbox.faults()
    final = report.result.progress
    assert (final.paid, final.failed, final.pending) == (600, 0, 0)
    assert final.paid_amount == seeded.budget
    assert_one_payout_per_recipient(await sandbox.payouts(), seeded, amount=10)
    history = await time_skipping_env.client.get_workflow_handle(
        distribution_workflow_id_for(seeded.campaign_id)
    ).fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert len(attempts) == 12 + 1  # a batch per 50, and the last one that finds none left
    assert max(attempts) > 1, "some batches were retried after a lost response"


async def test_ledger_errors_are_retried_without_paying_twice(
    time_skipping_env: WorkflowEnvironment, sandbox: Sandbox, engine: Engine
) -> None:
    seeded = seed_campaign(engine, recipients=300)
    faults = {"error_rate": 0.3, "lose_response_rate": 0.3, "target": "ledger", "seed": 11}

    report = await distribute(
        time_skipping_env, engine, sandbox, seeded, batch_size=40, faults=faults
    )

    await sandbox.faults()
    assert (report.result.progress.paid, report.result.progress.pending) == (300, 0)
    assert_one_payout_per_recipient(await sandbox.payouts(), seeded, amount=10)


async def test_an_escrow_short_of_funds_pays_in_order_and_fails_the_rest(
    time_skipping_env: WorkflowEnvironment, sandbox: Sandbox, engine: Engine
) -> None:
    seeded = seed_campaign(engine, recipients=10)
    # Lock less than the table needs (a bug elsewhere): the ledger refuses the batch as a
    # whole; the activity finds which transfers fit, in table order, and fails the others.
    short = SeededCampaign(seeded.campaign_id, 65, seeded.wallets, 0)
    activities = RewardActivities(session_factory(engine), sandbox.ledger)
    await ActivityEnvironment().run(
        activities.build_reward_table, RewardTableRequest(seeded.campaign_id, seeded.budget)
    )
    escrow_id = await sandbox.open_escrow(short)
    async with new_worker(
        time_skipping_env.client, DistributionWorkflow, activities=[activities.pay_batch]
    ) as w:
        result = await time_skipping_env.client.execute_workflow(
            DistributionWorkflow.run,
            DistributionInput(seeded.campaign_id, escrow_id, ""),
            id=f"distribution-{uuid.uuid4()}",
            task_queue=w.task_queue,
        )
    assert (result.progress.paid, result.progress.failed, result.progress.paid_amount) == (6, 4, 60)
    paid_to = [t["to"] for t in await sandbox.payouts()]
    assert paid_to == list(seeded.wallets.values())[:6]


@pytest.mark.dev_server
async def test_a_worker_stopped_mid_distribution_and_restarted_pays_each_once(
    dev_env: WorkflowEnvironment, sandbox: Sandbox, sqlite_engine: Engine
) -> None:
    # The dev server, not the time-skipping one: it moves a stopped worker's sticky workflow
    # tasks back to the shared queue, as a production server does.
    client = dev_env.client
    engine = sqlite_engine
    seeded = seed_campaign(engine, recipients=2000)
    activities = RewardActivities(session_factory(engine), sandbox.ledger)
    await ActivityEnvironment().run(
        activities.build_reward_table, RewardTableRequest(seeded.campaign_id, seeded.budget)
    )
    escrow_id = await sandbox.open_escrow(seeded)
    await sandbox.faults(latency_ms=40, lose_response_rate=0.2, target="ledger", seed=3)
    task_queue = f"tq-{uuid.uuid4()}"

    async def some_paid() -> int:
        paid = len(await sandbox.payouts())
        assert paid >= 300
        return paid

    async with new_worker(
        client, DistributionWorkflow, activities=[activities.pay_batch], task_queue=task_queue
    ):
        handle = await client.start_workflow(
            DistributionWorkflow.run,
            DistributionInput(seeded.campaign_id, escrow_id, "", batch_size=50),
            id=distribution_workflow_id_for(seeded.campaign_id),
            task_queue=task_queue,
        )
        await assert_eventually(some_paid, timeout=60)
    # The worker is gone, cancelling the batch it was paying; the rest waits for a worker.
    assert len(await sandbox.payouts()) < 2000
    async with new_worker(
        client, DistributionWorkflow, activities=[activities.pay_batch], task_queue=task_queue
    ):
        result = await handle.result()

    await sandbox.faults()
    assert (result.progress.paid, result.progress.pending) == (2000, 0)
    assert_one_payout_per_recipient(await sandbox.payouts(), seeded, amount=10)
