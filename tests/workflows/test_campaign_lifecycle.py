"""The campaign workflow's lifecycle with stand-in activities, under time skipping."""

from __future__ import annotations

from temporalio.client import Client

from tests.workflows.campaign_stack import outcome
from tests.workflows.standins import make_world, standin_worker, start


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
