"""The escrow activities over the sandbox's ledger: compensation releases what the effect rows
and the ledger record (even a lock whose activity failed after the ledger committed it), and a
top-up locks once per client key. Money is counted from the ledger's ground truth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.escrow import EscrowActivities
from activities.payloads import (
    CampaignRef,
    EscrowReleased,
    EscrowRequest,
    LockRequest,
    TopUpLockRequest,
)
from clients.ledger import LedgerClient
from clients.ports import Escrow, Receipt, RetryableError
from core.db import make_engine, session_factory
from core.models import Effect
from tests.workflows.campaign_stack import CampaignStack, awareness_spec, campaign_stack

BUDGET = 1_000


class AnswerLost(LedgerClient):
    """The real ledger client, except that the answer to the named call is lost once the ledger
    has committed it: the activity fails although the ledger moved the money."""

    def __init__(self, *args: Any, lose: str) -> None:
        super().__init__(*args)
        self._lose = lose

    async def lock(self, key: str, *, escrow_id: str, amount: int) -> Receipt:
        receipt = await super().lock(key, escrow_id=escrow_id, amount=amount)
        if self._lose == "lock":
            raise RetryableError(f"ledger POST lock {key}: connection lost after the commit")
        return receipt

    async def get_escrow(self, escrow_id: str) -> Escrow:
        escrow = await super().get_escrow(escrow_id)
        if self._lose == "get_escrow":
            raise RetryableError(f"ledger GET /escrows/{escrow_id}: 503")
        return escrow


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
async def stack(db: Engine) -> AsyncIterator[CampaignStack]:
    # The stack's Temporal client is not used here: activities run in ActivityEnvironment.
    async with campaign_stack(None, db) as stack:  # type: ignore[arg-type]
        yield stack


def escrow_activities(stack: CampaignStack, lose: str | None = None) -> EscrowActivities:
    url = f"{stack.base_url}/ledger"
    ledger = AnswerLost(stack.http, url, lose=lose) if lose else LedgerClient(stack.http, url)
    return EscrowActivities(session_factory(stack.engine), ledger)


def effect(stack: CampaignStack, key: str) -> Effect | None:
    with Session(stack.engine) as session:
        return session.get(Effect, key)


async def escrow_at_ledger(stack: CampaignStack, escrow_id: str) -> dict[str, Any]:
    response = await stack.http.get(f"{stack.base_url}/ledger/escrows/{escrow_id}")
    response.raise_for_status()
    return dict(response.json())


def total(transfers: list[dict[str, Any]], kind: str, escrow_id: str) -> int:
    return sum(t["amount"] for t in transfers if t["kind"] == kind and t["escrow"] == escrow_id)


@pytest.mark.parametrize("lose", ["lock", "get_escrow"])
async def test_release_refunds_and_closes_a_lock_whose_activity_failed_after_the_commit(
    stack: CampaignStack, lose: str
) -> None:
    campaign_id = stack.draft(awareness_spec(budget=BUDGET))
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError):
        await env.run(escrow_activities(stack, lose).lock_escrow, LockRequest(campaign_id, BUDGET))
    recorded = effect(stack, f"{campaign_id}:escrow")
    assert recorded is not None and recorded.result is not None
    escrow_id = str(recorded.result["escrow_id"])
    assert total(await stack.transfers(), "lock", escrow_id) == BUDGET  # the ledger committed

    release = escrow_activities(stack).release_escrow
    released = await env.run(release, CampaignRef(campaign_id))
    after_first = await stack.transfers()
    again = await env.run(release, CampaignRef(campaign_id))

    assert released == EscrowReleased(escrow_id, BUDGET, 0, BUDGET, refund_amount=BUDGET)
    assert again == released
    assert total(after_first, "refund", escrow_id) == total(after_first, "lock", escrow_id)
    assert (await escrow_at_ledger(stack, escrow_id))["closed"] is True
    assert await stack.transfers() == after_first  # the second release moved nothing


async def test_release_finds_an_escrow_whose_creation_answer_was_lost(
    stack: CampaignStack,
) -> None:
    campaign_id = stack.draft(awareness_spec(budget=BUDGET))
    env = ActivityEnvironment()
    await stack.sandbox("PUT", "/faults", {"lose_response_rate": 1.0, "target": "ledger"})
    with pytest.raises(ApplicationError):
        await env.run(escrow_activities(stack).lock_escrow, LockRequest(campaign_id, BUDGET))
    await stack.sandbox("DELETE", "/faults")
    recorded = effect(stack, f"{campaign_id}:escrow")
    assert recorded is not None and recorded.state == "unknown"

    released = await env.run(escrow_activities(stack).release_escrow, CampaignRef(campaign_id))

    assert released.escrow_id is not None
    at_ledger = await escrow_at_ledger(stack, released.escrow_id)
    assert at_ledger["campaign_id"] == campaign_id and at_ledger["closed"] is True
    assert released == EscrowReleased(released.escrow_id, 0, 0, 0, refund_amount=0)
    recorded = effect(stack, f"{campaign_id}:escrow")
    assert recorded is not None and recorded.state == "done"


async def test_release_without_an_escrow_at_the_ledger_releases_nothing(
    stack: CampaignStack,
) -> None:
    never_locked = stack.draft(awareness_spec())
    refused = stack.draft(awareness_spec())
    env = ActivityEnvironment()
    # 503 before the ledger does anything: the effect is unknown, the ledger holds no escrow.
    await stack.sandbox("PUT", "/faults", {"error_rate": 1.0, "target": "ledger"})
    with pytest.raises(ApplicationError):
        await env.run(escrow_activities(stack).lock_escrow, LockRequest(refused, BUDGET))
    await stack.sandbox("DELETE", "/faults")

    release = escrow_activities(stack).release_escrow
    assert await env.run(release, CampaignRef(never_locked)) == EscrowReleased()
    assert await env.run(release, CampaignRef(refused)) == EscrowReleased()
    assert await stack.transfers() == []
    assert effect(stack, f"{refused}:refund") is None


async def test_release_of_a_closed_escrow_returns_its_figures(stack: CampaignStack) -> None:
    campaign_id = stack.draft(awareness_spec(budget=BUDGET))
    env = ActivityEnvironment()
    escrow = escrow_activities(stack)
    locked = await env.run(escrow.lock_escrow, LockRequest(campaign_id, BUDGET))
    request = EscrowRequest(campaign_id, locked.escrow_id)
    refunded = await env.run(escrow.refund_escrow, request)
    await env.run(escrow.close_escrow, request)
    before = await stack.transfers()

    released = await env.run(escrow.release_escrow, CampaignRef(campaign_id))

    assert released == EscrowReleased(
        locked.escrow_id, BUDGET, 0, BUDGET, refund_amount=refunded.refunded
    )
    assert await stack.transfers() == before


async def test_a_top_up_locks_once_per_client_key(stack: CampaignStack) -> None:
    campaign_id = stack.draft(awareness_spec(budget=BUDGET))
    env = ActivityEnvironment()
    escrow = escrow_activities(stack)
    escrow_id = (await env.run(escrow.lock_escrow, LockRequest(campaign_id, BUDGET))).escrow_id

    first = await env.run(
        escrow.lock_top_up, TopUpLockRequest(campaign_id, escrow_id, 200, key="k-1")
    )
    repeat = await env.run(
        escrow.lock_top_up, TopUpLockRequest(campaign_id, escrow_id, 200, key="k-1")
    )
    other = await env.run(
        escrow.lock_top_up, TopUpLockRequest(campaign_id, escrow_id, 50, key="k-2")
    )
    legacy = await env.run(
        escrow.lock_top_up, TopUpLockRequest(campaign_id, escrow_id, 5, number=3)
    )

    locks = {t["key"]: t["amount"] for t in await stack.transfers("lock")}
    assert locks == {
        f"{campaign_id}:lock": BUDGET,
        f"{campaign_id}:top-up:k-1": 200,
        f"{campaign_id}:top-up:k-2": 50,
        f"{campaign_id}:top-up:3": 5,
    }
    assert len(await stack.transfers("lock")) == 4
    assert (first.locked, repeat.locked, other.locked, legacy.locked) == (1200, 1200, 1250, 1255)
