"""The reward activities on both databases, with an in-test ledger that keeps keys like the
real one (its failure modes are forced here; the sandbox over HTTP is in the workflow tests)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.reward_payloads import PayBatchRequest
from activities.reward_store import PAYOUT, current_reward_table
from activities.rewards import RewardActivities
from clients.ports import RetryableError
from core.contracts import RewardTableRequest
from core.db import session_factory
from tests.workflows.distribution_seed import LIKE_RATE, KeyedLedger, SeededCampaign, seed_campaign


def payout_rows(engine: Engine, campaign_id: str) -> list[tuple[int, str, str, int, str, str]]:
    c = PAYOUT.c
    with engine.connect() as connection:
        query = (
            select(c.seq, c.x_user_id, c.wallet, c.amount, c.key, c.state)
            .where(c.campaign_id == campaign_id)
            .order_by(c.seq)
        )
        return [tuple(row) for row in connection.execute(query)]  # type: ignore[misc]


async def test_build_reward_table_writes_one_keyed_row_per_recipient(engine: Engine) -> None:
    seeded = seed_campaign(engine, recipients=30, unregistered=4, budget=LIKE_RATE * 25 + 5)
    activities = RewardActivities(session_factory(engine), KeyedLedger())
    request = RewardTableRequest(seeded.campaign_id, seeded.budget)

    result = await ActivityEnvironment().run(activities.build_reward_table, request)

    assert (result.earned, result.recipients, result.ineligible) == (250, 25, 4)
    rows = payout_rows(engine, seeded.campaign_id)
    first_25 = list(seeded.wallets.items())[:25]
    assert rows == [
        (i, user, wallet, LIKE_RATE, f"{seeded.campaign_id}:payout:{user}", "pending")
        for i, (user, wallet) in enumerate(first_25, start=1)
    ]


async def test_build_reward_table_retry_after_partial_work_keeps_rows(engine: Engine) -> None:
    seeded = seed_campaign(engine, recipients=40)
    activities = RewardActivities(session_factory(engine), KeyedLedger())
    request = RewardTableRequest(seeded.campaign_id, seeded.budget)
    first = await ActivityEnvironment().run(activities.build_reward_table, request)
    before = payout_rows(engine, seeded.campaign_id)
    # A first attempt that stopped halfway (and paid one row) before the retry.
    with engine.begin() as connection:
        connection.execute(delete(PAYOUT).where(PAYOUT.c.seq > 15))
        connection.execute(PAYOUT.update().where(PAYOUT.c.seq == 1).values(state="paid"))

    again = await ActivityEnvironment().run(activities.build_reward_table, request)

    assert again == first
    after = payout_rows(engine, seeded.campaign_id)
    assert after[0][-1] == "paid", "an existing row is kept as it is"
    assert [row[:5] for row in after] == [row[:5] for row in before]


async def test_two_overlapping_builds_write_each_row_once(engine: Engine) -> None:
    """A retried attempt can run beside the first (its heartbeat timed out while it still ran):
    on PostgreSQL both send the whole table in one COPY, the one that finds rows there takes
    the insert that keeps them, and both answer the same table."""
    seeded = seed_campaign(engine, recipients=300)
    activities = RewardActivities(session_factory(engine), KeyedLedger())
    request = RewardTableRequest(seeded.campaign_id, seeded.budget)

    first, second = await asyncio.gather(
        ActivityEnvironment().run(activities.build_reward_table, request),
        ActivityEnvironment().run(activities.build_reward_table, request),
    )

    assert first == second and first.recipients == 300
    rows = payout_rows(engine, seeded.campaign_id)
    assert [row[0] for row in rows] == list(range(1, 301)), "each seq once"
    assert len({row[4] for row in rows}) == 300, "each key once"


async def test_build_reward_table_refuses_an_unknown_campaign(engine: Engine) -> None:
    activities = RewardActivities(session_factory(engine), KeyedLedger())
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(
            activities.build_reward_table, RewardTableRequest(uuid.uuid4().hex, 100)
        )
    assert raised.value.non_retryable and raised.value.type == "InvalidRewardTerms"


async def with_reward_table(
    engine: Engine, seeded: SeededCampaign, ledger: KeyedLedger
) -> tuple[RewardActivities, ActivityEnvironment]:
    """The activities on ``ledger`` with the seeded campaign's reward table built."""
    activities = RewardActivities(session_factory(engine), ledger)
    env = ActivityEnvironment()
    await env.run(
        activities.build_reward_table, RewardTableRequest(seeded.campaign_id, seeded.budget)
    )
    return activities, env


async def test_pay_batch_pays_in_seq_order_and_counts_from_rows(engine: Engine) -> None:
    seeded = seed_campaign(engine, recipients=12)
    ledger = KeyedLedger()
    activities, env = await with_reward_table(engine, seeded, ledger)
    request = PayBatchRequest(seeded.campaign_id, "escrow-1", after_seq=0, limit=5)

    first = await env.run(activities.pay_batch, request)
    assert (first.last_seq, first.sent) == (5, 5)
    assert (first.progress.paid, first.progress.pending, first.progress.paid_amount) == (5, 7, 50)
    second = await env.run(
        activities.pay_batch, PayBatchRequest(**{**vars(request), "after_seq": 5})
    )
    third = await env.run(
        activities.pay_batch, PayBatchRequest(**{**vars(request), "after_seq": 10})
    )
    done = await env.run(
        activities.pay_batch, PayBatchRequest(**{**vars(request), "after_seq": 12})
    )

    assert (second.last_seq, third.last_seq, third.sent) == (10, 12, 2)
    assert (done.last_seq, done.sent) == (12, 0)
    assert done.progress.recipients == done.progress.paid == 12
    assert done.progress.paid_amount == seeded.budget
    paid_to = [r.to for r in ledger.receipts.values()]
    assert paid_to == list(seeded.wallets.values())
    assert {row[-1] for row in payout_rows(engine, seeded.campaign_id)} == {"paid"}


async def test_a_window_of_seqs_is_paid_in_ledger_calls_of_500_and_stops_at_its_end(
    engine: Engine,
) -> None:
    seeded = seed_campaign(engine, recipients=1_300)
    ledger = KeyedLedger()
    activities, env = await with_reward_table(engine, seeded, ledger)
    window = PayBatchRequest(
        seeded.campaign_id, "escrow-1", after_seq=0, limit=2_000, through_seq=1_200
    )
    paid = await env.run(activities.pay_batch, window)
    assert (paid.last_seq, paid.sent, ledger.calls) == (1_200, 1_200, 3)  # 500 + 500 + 200
    assert (paid.progress.paid, paid.progress.pending) == (1_200, 100)
    states = [row[-1] for row in payout_rows(engine, seeded.campaign_id)]
    assert states == ["paid"] * 1_200 + ["pending"] * 100


async def test_lost_response_then_retry_pays_each_recipient_once(engine: Engine) -> None:
    seeded = seed_campaign(engine, recipients=8)
    ledger = KeyedLedger()
    activities, env = await with_reward_table(engine, seeded, ledger)
    request = PayBatchRequest(seeded.campaign_id, "escrow-1", after_seq=0)
    ledger.lose_next = 1
    with pytest.raises(RetryableError):
        await env.run(activities.pay_batch, request)
    assert len(ledger.receipts) == 8, "the ledger committed the lost call"

    retried = await env.run(activities.pay_batch, request)

    assert retried.progress.paid == 8 and ledger.calls == 2
    assert len(ledger.receipts) == 8, "the retry answered from the keys: nothing paid twice"


async def test_refused_transfers_fail_alone_with_their_reason(engine: Engine) -> None:
    seeded = seed_campaign(engine, recipients=9)
    ledger = KeyedLedger()
    bad = list(seeded.wallets.values())[4]
    ledger.refused.add(bad)
    activities, env = await with_reward_table(engine, seeded, ledger)

    result = await env.run(
        activities.pay_batch, PayBatchRequest(seeded.campaign_id, "escrow-1", after_seq=0)
    )

    assert (result.progress.paid, result.progress.failed, result.progress.pending) == (8, 1, 0)
    assert result.progress.paid_amount == 8 * LIKE_RATE
    assert bad not in {r.to for r in ledger.receipts.values()}
    with Session(engine) as session:
        c = PAYOUT.c
        failed = session.execute(select(c.wallet, c.error).where(c.state == "failed")).all()
    assert [(w, e) for w, e in failed if w == bad] == [(bad, "PermanentError: no " + bad)]


async def test_missing_receipts_record_what_came_and_retry(engine: Engine) -> None:
    seeded = seed_campaign(engine, recipients=6)
    ledger = KeyedLedger()
    ledger.drop_receipts = 2
    activities, env = await with_reward_table(engine, seeded, ledger)
    request = PayBatchRequest(seeded.campaign_id, "escrow-1", after_seq=0)
    with pytest.raises(ApplicationError, match="4 receipts for 6"):
        await env.run(activities.pay_batch, request)
    assert [row[-1] for row in payout_rows(engine, seeded.campaign_id)].count("paid") == 4

    retried = await env.run(activities.pay_batch, request)

    assert (retried.sent, retried.last_seq, retried.progress.paid) == (2, 6, 6)
    assert len(ledger.receipts) == 6


def test_current_reward_table_reads_what_is_recorded(engine: Engine) -> None:
    seeded = seed_campaign(engine, recipients=3, unregistered=2, budget=25)
    with Session(engine) as session:
        table = current_reward_table(session, seeded.campaign_id, budget=25)
    assert (table.earned, table.recipients, table.ineligible, table.exhausted) == (20, 2, 2, True)
