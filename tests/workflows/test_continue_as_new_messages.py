"""Messages that arrive while a campaign continues as new are not lost: a storm of pauses,
resumes and top-ups against a run that hands over every few dozen events (dev server, real
time, stand-in activities)."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.client import Client, WorkflowHandle

from api.routes.top_ups import look_up_top_up
from api.temporal_gateway import TemporalGateway
from core.contracts import CampaignWorkflowInput, TopUpRequest, TopUpResult, workflow_id_for
from core.temporal import CAMPAIGN_WORKFLOW_NAME
from tests.workflows.campaign_stack import outcome, record_history_if_asked, status_of
from tests.workflows.standins import StandInWorld, make_world, standin_worker, wait_for_status

# Small enough that the storm below spans several runs.
HAND_OVER_AFTER_EVENTS = 40


async def start_handing_over(
    client: Client, world: StandInWorld, task_queue: str
) -> WorkflowHandle[Any, Any]:
    campaign_id = world.definition.campaign_id
    return await client.start_workflow(
        CAMPAIGN_WORKFLOW_NAME,
        CampaignWorkflowInput(campaign_id, continue_as_new_after_events=HAND_OVER_AFTER_EVENTS),
        id=workflow_id_for(campaign_id),
        task_queue=task_queue,
    )


async def runs_of(client: Client, workflow_id: str) -> int:
    count = 0
    async for _ in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        count += 1
    return count


async def test_pause_resume_cancel_and_top_ups_survive_continue_as_new(
    dev_client: Client,
) -> None:
    world = make_world(likes=2, earned=20, recipients=2)
    world.definition.poll_interval_seconds = 1
    world.definition.duration_seconds = 3_600
    async with standin_worker(dev_client, world) as worker:
        handle = await start_handing_over(dev_client, world, worker.task_queue)
        await wait_for_status(handle, "running")
        first = await handle.execute_update(
            "top_up", TopUpRequest(100, key="k-1"), id="k-1", result_type=dict
        )
        for round_ in range(8):
            await handle.signal("pause", f"storm {round_}")
            await handle.signal("resume")
            await handle.execute_update(
                "top_up", TopUpRequest(10, key=f"storm-{round_}"), id=uuid.uuid4().hex
            )
        # The same key again, most likely in a later run: its first answer, nothing locked.
        again = await handle.execute_update(
            "top_up", TopUpRequest(100, key="k-1"), id=uuid.uuid4().hex, result_type=dict
        )
        # A client asking after its top-up once the run that took it has handed over: the
        # update is not in this run, the workflow's record of it is (GET top-ups/{key}).
        gateway = TemporalGateway(
            dev_client.service_client.config.target_host, dev_client.namespace
        )
        looked_up = await look_up_top_up(gateway, world.definition.campaign_id, handle.id, "k-1")
        never = await look_up_top_up(gateway, world.definition.campaign_id, handle.id, "nope")
        await handle.signal("pause", "last one")
        await wait_for_status(handle, "paused")
        held = await status_of(handle)
        await handle.signal("resume")
        await wait_for_status(handle, "running")
        await handle.signal("cancel", "storm over")
        doc = await outcome(handle)
        runs = await runs_of(dev_client, handle.id)
        await record_history_if_asked(handle, "continue-as-new")  # its first run
    assert runs > 1  # it did hand over, during the storm
    assert first == again == {"budget": 1_100}
    assert looked_up == (True, TopUpResult(budget=1_100)) and never == (False, None)
    assert world.top_up_keys == ["k-1"] + [f"storm-{n}" for n in range(8)]
    assert held.paused and doc.status == "closed" and doc.budget.total == 1_180
    kinds = world.kinds()
    assert kinds.count("paused") == kinds.count("resumed") == 9
    assert "resume_ignored" not in kinds and "pause_ignored" not in kinds
    closing = next(r for r in world.timeline.values() if r.kind == "closing")
    assert closing.data["reason"] == "cancelled: storm over"
    seqs = sorted(world.timeline)
    assert seqs == list(range(1, len(seqs) + 1))  # one timeline across the runs
