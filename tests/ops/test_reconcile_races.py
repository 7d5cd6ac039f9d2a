"""Reconcile beside the things it must not beat: an activity that moves an effect row between
reconcile's read and its write wins; so does the workflow's own write to the campaign row;
and a ledger that cannot be reached leaves the effect as it was."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from activities.effects import FAILED, EffectStore
from cli.drift import Reconciler
from cli.open_effects import OpenEffects, Repair
from clients.ledger import LedgerClient
from clients.x_api import XApiClient
from core.contracts import workflow_id_for
from core.db import session_factory
from core.models import Campaign, Effect, Owner
from core.temporal import CAMPAIGN_WORKFLOW_NAME
from tests.ops.stack import free_port

LONG_AGO = datetime.now(UTC) - timedelta(hours=1)
# Nothing listens here: every ledger and X call fails to connect.
UNREACHABLE = f"http://127.0.0.1:{free_port()}"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def published_campaign(engine: Engine, status: str = "running") -> str:
    with Session(engine) as session:
        owner = Owner(name="Ada", x_user_id="1000", wallet="wallet-owner")
        session.add(owner)
        session.flush()
        campaign = Campaign(
            owner_id=owner.id, name="Race", type="awareness", asset="native", budget=100, spec={}
        )
        campaign.status, campaign.workflow_id = status, workflow_id_for(campaign.id)
        session.add(campaign)
        session.commit()
        return campaign.id


def open_effect(engine: Engine, campaign_id: str, suffix: str, kind: str) -> str:
    key = f"{campaign_id}:{suffix}"
    with Session(engine) as session:
        session.add(
            Effect(
                key=key,
                campaign_id=campaign_id,
                kind=kind,
                state="unknown",
                attempts=1,
                created_at=LONG_AGO,
                updated_at=LONG_AGO,
            )
        )
        session.commit()
    return key


def effect(engine: Engine, key: str) -> Effect:
    with Session(engine) as session:
        row = session.get(Effect, key)
        assert row is not None
        return row


def reconciler(engine: Engine, client: Client, http: httpx.AsyncClient) -> Reconciler:
    return Reconciler(
        session_factory(engine),
        client,
        ledger=LedgerClient(http, f"{UNREACHABLE}/ledger"),
        social=XApiClient(http, UNREACHABLE, "token"),
    )


async def test_an_activity_that_moves_the_effect_after_the_read_wins(engine: Engine) -> None:
    campaign_id = published_campaign(engine)
    key = open_effect(engine, campaign_id, "lock", "lock")
    sessions = session_factory(engine)
    async with httpx.AsyncClient() as http:  # never called: apply only writes
        opened = OpenEffects(
            sessions,
            ledger=LedgerClient(http, UNREACHABLE),
            social=XApiClient(http, UNREACHABLE, "token"),
            default_x_token=None,
            older_than=timedelta(minutes=15),
        )
    [seen] = opened.stale(campaign_id)
    # A late attempt of the activity sends again and records its receipt, between the read
    # and the write.
    store = EffectStore(sessions)
    store.mark_sending(key)
    store.complete(key, {"receipt_id": "r-1", "amount": 100})

    assert opened.apply(seen.record, Repair(FAILED, None, "not at the ledger")) is False
    row = effect(engine, key)
    assert (row.state, row.result, row.error) == (
        "done",
        {"receipt_id": "r-1", "amount": 100},
        None,
    )


async def test_the_workflows_own_write_to_the_campaign_row_wins(
    engine: Engine, dev_client: Client, http: httpx.AsyncClient
) -> None:
    campaign_id = published_campaign(engine, status="closing")
    with Session(engine) as session:
        read = session.get(Campaign, campaign_id)
        assert read is not None
        session.expunge(read)
    with Session(engine) as session:  # the workflow's last record lands first
        session.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(status="closed")  # type: ignore[arg-type]
        )
        session.commit()

    moved = reconciler(engine, dev_client, http).set_status_if_unchanged(
        read, "failed", {"status": "failed"}
    )
    assert moved is False
    with Session(engine) as session:
        row = session.get(Campaign, campaign_id)
        assert row is not None and row.status == "closed"


async def test_an_unreachable_ledger_leaves_the_effect_open(
    engine: Engine, dev_client: Client, http: httpx.AsyncClient
) -> None:
    campaign_id = published_campaign(engine)
    handle = await dev_client.start_workflow(
        CAMPAIGN_WORKFLOW_NAME,
        {"campaign_id": campaign_id},
        id=workflow_id_for(campaign_id),
        task_queue=f"no-worker-{uuid.uuid4()}",
    )
    await handle.terminate("gone")
    key = open_effect(engine, campaign_id, "escrow", "escrow")

    findings = await reconciler(engine, dev_client, http).run()

    by_subject = {finding.subject: finding for finding in findings}
    assert by_subject[key].repaired is False
    assert by_subject[key].action.startswith("left: the lookup failed"), by_subject[key]
    row = effect(engine, key)
    assert (row.state, row.attempts, row.error) == ("unknown", 1, None)
    # The row's status is another matter: the workflow is terminated, so it is failed now.
    assert by_subject[workflow_id_for(campaign_id)].repaired is True
