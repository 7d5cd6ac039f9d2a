"""The world misbehaves: faults on every X, ledger and chain call (errors, lost responses), the
worker stopped and restarted mid-distribution, a burst of 429s. The sandbox's ground truth
(on the HTTP ledger its transfers, on chain the escrow contract's events) must still show two
posts per campaign, one payout per recipient, locked = paid + refunded."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select
from temporalio.client import Client, WorkflowHandle

from clients.evm_ledger import EvmLedger
from clients.ports import Ledger
from core.config import Settings
from core.contracts import StatusDocument
from core.db import make_engine, session_factory
from core.models import Owner, Participant, Payout
from tests.evm.chain import fresh_addresses
from tests.helpers import assert_eventually
from tests.workflows.campaign_stack import (
    OWNER_X_ID,
    CampaignStack,
    awareness_spec,
    campaign_stack,
    outcome,
    quest_spec,
    status_of,
)
from worker import make_ledger

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_or_sqlite_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


async def running_first_post(handle: WorkflowHandle[Any, Any]) -> str:
    async def running() -> str:
        doc = await status_of(handle)
        assert doc.status == "running" and doc.posts.first, doc.status
        return doc.posts.first

    first: str = await assert_eventually(running, timeout=120, interval=0.2)
    return first


async def until_distributing(handles: list[WorkflowHandle[Any, Any]]) -> bool:
    async def distributing() -> bool:
        statuses = [(await status_of(h)).status for h in handles]
        assert "distributing" in statuses, statuses
        return True

    reached: bool = await assert_eventually(distributing, timeout=300, interval=0.05)
    return reached


def texts(spec: dict[str, Any]) -> tuple[str, str]:
    return spec["first_post"]["text"], spec["second_post"]["text"]


async def ledger_totals(
    stack: CampaignStack, escrows: dict[str, str], on_chain: bool
) -> dict[str, tuple[Counter[str], list[str]]]:
    """Per campaign: the amounts moved by kind, and the payouts' recipients, as the sandbox
    saw them: its HTTP ledger's transfers, or on chain the escrow contract's events."""
    found: dict[str, tuple[Counter[str], list[str]]] = {}
    for campaign_id, escrow_id in escrows.items():
        if on_chain:
            query = f"/truth/chain?campaign_id={campaign_id}"
            transfers = (await stack.sandbox("GET", query))["events"]
        else:
            transfers = [t for t in await stack.transfers() if t["escrow"] == escrow_id]
        amounts: Counter[str] = Counter()
        for t in transfers:
            amounts[t["kind"]] += t["amount"] or 0
        found[campaign_id] = (amounts, [t["to"] for t in transfers if t["kind"] == "payout"])
    return found


async def assert_ground_truth(
    stack: CampaignStack,
    specs: dict[str, dict[str, Any]],
    escrows: dict[str, str],
    on_chain: bool = False,
) -> None:
    posts = [p for p in await stack.posts() if p["author_id"] == OWNER_X_ID]
    for first_text, second_text in (texts(spec) for spec in specs.values()):
        firsts = [p for p in posts if p["text"] == first_text and not p["deleted"]]
        seconds = [p for p in posts if p["text"] == second_text and not p["deleted"]]
        assert len(firsts) == 1 and len(seconds) == 1
        assert seconds[0]["in_reply_to_tweet_id"] == firsts[0]["id"]
    assert len(posts) == 2 * len(specs)
    for campaign_id, (amounts, payouts) in (await ledger_totals(stack, escrows, on_chain)).items():
        assert len(payouts) == len(set(payouts)), "someone was paid twice"
        assert amounts["lock"] == amounts["payout"] + amounts["refund"]
        assert amounts["lock"] == specs[campaign_id]["budget"]
        with Session(stack.engine) as session:
            paid_rows = session.exec(
                select(func.count())
                .select_from(Payout)
                .where(Payout.campaign_id == campaign_id, Payout.state == "paid")
            ).one()
        assert len(payouts) == paid_rows > 0


def wallets_on_chain(stack: CampaignStack, repliers: list[str]) -> None:
    """On chain a wallet is an address: the owner's (where refunds go) and the repliers'."""
    owner_wallet, *wallets = fresh_addresses(1 + len(repliers))
    with Session(stack.engine) as session:
        owner = session.get(Owner, stack.owner_id)
        assert owner is not None
        owner.wallet = owner_wallet
        session.add(owner)
        session.add_all(
            Participant(x_user_id=u, wallet=w) for u, w in zip(repliers, wallets, strict=True)
        )
        session.commit()


async def faulted_campaigns(
    stack: CampaignStack, *, repliers: int, winners: int, ledger: Ledger | None = None
) -> list[StatusDocument]:
    """An awareness campaign (a reply from each replier) and a quest (``winners`` of the
    first two thirds answering), both under sandbox faults, their worker stopped
    mid-distribution and another started; asserts the sandbox's ground truth."""
    prefix = "e" if ledger is not None else "r"  # the participants' registry is one table
    users = [f"{prefix}{i}" for i in range(repliers)]
    if ledger is None:
        stack.register(*users)
    else:
        wallets_on_chain(stack, users)
    tag = uuid.uuid4().hex[:6]
    specs = {}
    for spec in (
        awareness_spec(
            budget=20_000,
            rewards={"like": 0, "repost": 0, "quote": 0, "reply": 20},
            second_post={"text": f"Terms {tag}: one reward per person."},
            duration_seconds=60,
            poll_interval_seconds=10,
        ),
        quest_spec(
            budget=100 * winners,
            quest={"answer": "Blue Moon", "winners": winners},
            second_post={"text": f"Quest terms {tag}: first {winners} with the answer."},
            duration_seconds=60,
            poll_interval_seconds=10,
        ),
    ):
        specs[stack.draft(spec)] = spec
    # "all": the X API, the HTTP ledger and the chain's JSON-RPC
    await stack.sandbox(
        "PUT", "/faults", {"error_rate": 0.05, "lose_response_rate": 0.05, "seed": 7}
    )
    async with stack.worker(ledger=ledger):
        handles = [await stack.publish(campaign_id) for campaign_id in specs]
        awareness_post, quest_post = [await running_first_post(h) for h in handles]
        await stack.engage(
            awareness_post,
            *({"user_id": u, "kind": "reply", "text": f"nice {u}"} for u in users),
        )
        answering = users[: len(users) * 2 // 3]
        await stack.engage(
            quest_post,
            *({"user_id": u, "kind": "reply", "text": "blue moon"} for u in answering),
        )
        results = [asyncio.create_task(outcome(h)) for h in handles]
        await until_distributing(handles)
    # The worker is gone mid-distribution; a new one picks the campaigns up.
    async with stack.worker(ledger=ledger):
        docs = list(await asyncio.gather(*results))
    escrows = {doc.campaign_id: doc.escrow.id for doc in docs if doc.escrow.id}
    assert [doc.status for doc in docs] == ["closed", "closed"], [d.failure for d in docs]
    assert len(escrows) == 2
    await assert_ground_truth(stack, specs, escrows, on_chain=ledger is not None)
    quest_doc = docs[1]
    assert quest_doc.rewards.paid == winners and quest_doc.rewards.paid_amount == 100 * winners
    return docs


@pytest.mark.dev_server
async def test_faults_and_a_restart_mid_distribution_pay_everyone_exactly_once(
    dev_client: Client, pg_or_sqlite_engine: Engine
) -> None:
    """On the dev server in real time (a one-minute campaign): a stopped worker's tasks move
    to the next worker as in production, which the time-skipping server does not model.

    Both ledger adapters at once, each with its own sandbox, task queue and worker, in the
    same minute: the HTTP ledger (600 repliers, 300 quest winners) and the escrow contract
    on the sandbox's chain (smaller: 150 and 100, a payout transaction each), so the chain
    adds seconds to the suite, not another minute."""
    engine = pg_or_sqlite_engine
    async with (
        campaign_stack(dev_client, engine) as on_http,
        campaign_stack(dev_client, engine) as on_chain,
    ):
        settings = Settings.model_validate(
            {"ledger": "evm", "evm_rpc_url": f"{on_chain.base_url}/evm"}
        )
        chain_ledger = await make_ledger(settings, on_chain.http, session_factory(engine))
        assert isinstance(chain_ledger, EvmLedger)
        try:
            await asyncio.gather(
                faulted_campaigns(on_http, repliers=600, winners=300),
                faulted_campaigns(on_chain, repliers=150, winners=100, ledger=chain_ledger),
            )
        finally:
            await chain_ledger.aclose()


async def test_a_burst_of_429s_waits_for_the_reset(
    skipping_client: Client, pg_or_sqlite_engine: Engine
) -> None:
    """While publishing (real time: the test is not waiting on the result, so the server does
    not skip time) X allows one call a second; the posts wait for the reset and go out once."""
    async with campaign_stack(skipping_client, pg_or_sqlite_engine) as stack:
        stack.register("a", "b")
        spec = awareness_spec()
        campaign_id = stack.draft(spec)
        await stack.sandbox(
            "PUT", "/faults", {"rate_limit": {"limit": 1, "window_s": 1.0}, "target": "x"}
        )
        async with stack.worker():
            handle = await stack.publish(campaign_id)
            first = await running_first_post(handle)
            await stack.sandbox("DELETE", "/faults")
            await stack.engage(first, {"user_id": "a", "kind": "like"})
            doc = await outcome(handle)
        assert doc.status == "closed", doc.failure
        escrow_id = doc.escrow.id
        assert escrow_id is not None
        await assert_ground_truth(stack, {campaign_id: spec}, {campaign_id: escrow_id})
        history = await handle.fetch_history()
    retried = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.attempt > 1
    ]
    assert retried, "no call was rate limited: the test proves nothing"
