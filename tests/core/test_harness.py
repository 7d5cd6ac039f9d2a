"""Proves the harness: a workflow runs on both Temporal servers; a row round-trips on both DBs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from core.models import Campaign, Owner, TimelineEvent
from tests.core.smoke_workflow import SmokeWorkflow, shout
from tests.helpers import assert_eventually, new_worker


async def test_smoke_workflow_skips_three_days(time_skipping_env: WorkflowEnvironment) -> None:
    client = time_skipping_env.client
    async with new_worker(client, SmokeWorkflow, activities=[shout]) as worker:
        result = await client.execute_workflow(
            SmokeWorkflow.run, "hello", id=f"smoke-{uuid.uuid4()}", task_queue=worker.task_queue
        )
    assert result == "HELLO"


async def test_assert_eventually_waits_for_a_condition() -> None:
    calls = []

    def check() -> int:
        calls.append(1)
        assert len(calls) >= 3
        return len(calls)

    assert await assert_eventually(check, interval=0.001) == 3


def test_database_round_trip(engine: Engine) -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with Session(engine) as session:
        owner = Owner(name="Ada", x_user_id="42", wallet="wallet-ada")
        session.add(owner)
        session.flush()
        campaign = Campaign(
            owner_id=owner.id,
            name="c",
            type="awareness",
            asset="native",
            budget=10**18,
            spec={"k": [1, 2]},
            created_at=created,
        )
        session.add(campaign)
        session.flush()
        session.add(TimelineEvent(campaign_id=campaign.id, seq=1, kind="created", status="draft"))
        session.commit()
        campaign_id = campaign.id
    with Session(engine) as session:
        loaded = session.exec(select(Campaign).where(Campaign.id == campaign_id)).one()
        assert loaded.budget == 10**18
        assert loaded.spec == {"k": [1, 2]}
        assert loaded.created_at == created
        assert loaded.created_at.tzinfo is not None
        events = session.exec(select(TimelineEvent)).all()
        assert [e.kind for e in events] == ["created"]
