"""The worker's workflow sandbox passes our deterministic modules through (``worker.
WORKFLOW_RUNNER``) so that a workflow instance does not rebuild them; it must still refuse
what workflow code may not do, and the modules it passes through must be the ones the workflow
modules import."""

from __future__ import annotations

import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from tests.helpers import assert_eventually
from tests.workflows.clock_reading_workflow import ClockReadingWorkflow
from worker import PASSED_THROUGH_MODULES, WORKFLOW_RUNNER


async def test_the_worker_sandbox_still_refuses_the_wall_clock(dev_client: Client) -> None:
    task_queue = f"sandbox-{uuid.uuid4()}"
    async with Worker(
        dev_client,
        task_queue=task_queue,
        workflows=[ClockReadingWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        handle = await dev_client.start_workflow(
            ClockReadingWorkflow.run, id=f"clock-{uuid.uuid4()}", task_queue=task_queue
        )

        async def refused() -> str:
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    return str(event.workflow_task_failed_event_attributes.failure.message)
            raise AssertionError("no workflow task has failed yet")

        message = await assert_eventually(refused, timeout=30)
        await handle.terminate("test over")
    assert "datetime.datetime.now" in message, message


def test_what_is_passed_through_holds_no_workflow_definition() -> None:
    """A workflow module passed through would escape the sandbox's checks altogether."""
    assert not {"workflows", "workflows.campaign", "workflows.distribution"} & set(
        PASSED_THROUGH_MODULES
    )
