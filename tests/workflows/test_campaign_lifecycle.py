"""The campaign workflow's lifecycle with stand-in activities, under time skipping."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import TypeAdapter
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.payloads import CampaignDefinition
from core.contracts import StatusDocument
from core.temporal import start_campaign_workflow
from tests.helpers import new_worker
from tests.workflows.standin_distribution import StandInDistributionWorkflow
from tests.workflows.standins import StandInWorld
from workflows.campaign import CampaignWorkflow


def make_world(**overrides: Any) -> StandInWorld:
    definition = CampaignDefinition(
        campaign_id=uuid.uuid4().hex,
        owner_id="owner-1",
        name="Launch week",
        type="awareness",
        asset="native",
        budget=1_000,
        duration_seconds=3_600,
        poll_interval_seconds=300,
    )
    return StandInWorld(definition=definition, **overrides)


def standin_worker(client: Client, world: StandInWorld) -> Worker:
    return new_worker(
        client,
        CampaignWorkflow,
        StandInDistributionWorkflow,
        activities=world.activities(),
    )


async def start(client: Client, world: StandInWorld, worker: Worker) -> WorkflowHandle[Any, Any]:
    d = world.definition
    return await start_campaign_workflow(
        client,
        campaign_id=d.campaign_id,
        owner_id=d.owner_id,
        campaign_type=d.type,
        name=d.name,
        task_queue=worker.task_queue,
    )


async def outcome(handle: WorkflowHandle[Any, Any]) -> StatusDocument:
    """The final status document (under time skipping, waiting here lets time run ahead)."""
    return TypeAdapter(StatusDocument).validate_python(await handle.result())


async def test_a_campaign_runs_from_first_post_to_refund(skipping_client: Client) -> None:
    client = skipping_client
    world = make_world(likes=7, earned=70, recipients=7)
    async with standin_worker(client, world) as worker:
        handle = await start(client, world, worker)
        doc = await outcome(handle)
    assert doc.status == "closed"
    assert doc.posts.first == "post-1" and doc.posts.second == "post-2"
    assert doc.escrow.locked == 1_000
    assert doc.engagement.polls == 3600 // 300  # every interval up to the end, plus final
    assert doc.rewards.paid == 7 and doc.rewards.paid_amount == 70
    assert doc.budget.refunded == 930 and doc.budget.spent == 70
    assert world.locked == world.paid + world.refunded and world.escrow_closed
    assert world.kinds() == [
        "publishing",
        "first_posted",
        "escrow_locked",
        "second_posted",
        "running",
        "closing",
        "distributing",
        "distributed",
        "closed",
    ]
    assert [world.timeline[s].status for s in sorted(world.timeline)][-1] == "closed"
