"""On the dev server (real visibility): the search attributes follow the campaign, so
operators can filter campaigns by status, type and owner."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from tests.helpers import assert_eventually
from tests.workflows.campaign_stack import outcome
from tests.workflows.standins import make_world, standin_worker, start

pytestmark = pytest.mark.dev_server


async def test_closed_campaigns_are_found_by_their_search_attributes(dev_client: Client) -> None:
    world = make_world(likes=1, earned=10, recipients=1)
    # Stand-ins may run a campaign of seconds (the API would refuse one this short).
    world.definition.duration_seconds = 3
    world.definition.poll_interval_seconds = 1
    async with standin_worker(dev_client, world) as worker:
        handle = await start(dev_client, world, worker)
        doc = await outcome(handle)
    assert doc.status == "closed"
    owner = world.definition.owner_id
    query = (
        f"WorkflowId = '{handle.id}' AND CampaignStatus = 'closed' "
        f"AND CampaignType = 'awareness' AND CampaignOwner = '{owner}'"
    )

    async def listed() -> list[str]:
        found = [w.id async for w in dev_client.list_workflows(query)]
        assert found == [handle.id]
        return found

    found: list[str] = await assert_eventually(listed, timeout=20)
    assert found == [handle.id]
    description = await handle.describe()
    summary = await description.static_summary()
    assert summary is not None and "Launch week" in summary
