"""The status document's ``retrying``: the steps of a running campaign that are failing and
being retried, read from Temporal's description of the run (its pending activities).

A pending activity's ``scheduled_time`` is its *next* attempt's, so "since when" comes from the
activity's one ``ActivityTaskScheduled`` event (retries add no events): read from the end of
the history, only while a step retries, and kept per activity, since it never changes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client

from api.schemas import RetryingStepPublic
from api.temporal_gateway import WORKER_ANSWER_TIMEOUT, TemporalGateway

# A pending activity was scheduled by a recent workflow task; never read more than this far
# back for it (signals and timers since then add a few events each).
_HISTORY_PAGE = 200
_HISTORY_PAGES = 5
_REMEMBERED = 1_000


async def retrying_steps(gateway: TemporalGateway, workflow_id: str) -> list[RetryingStepPublic]:
    client = await gateway.client()
    description = await client.get_workflow_handle(workflow_id).describe(
        rpc_timeout=WORKER_ANSWER_TIMEOUT
    )
    steps = []
    for pending in description.raw_description.pending_activities:
        if pending.attempt <= 1 and not pending.HasField("last_failure"):
            continue
        since = await _first_scheduled(gateway, client, workflow_id, description.run_id, pending)
        steps.append(
            RetryingStepPublic(
                step=pending.activity_type.name,
                attempt=pending.attempt,
                since=since,
                reason=pending.last_failure.message or None,
            )
        )
    return steps


async def _first_scheduled(
    gateway: TemporalGateway,
    client: Client,
    workflow_id: str,
    run_id: str,
    pending: PendingActivityInfo,
) -> datetime | None:
    remembered = gateway.first_scheduled
    key = (workflow_id, run_id, pending.activity_id)
    if key not in remembered:
        if len(remembered) >= _REMEMBERED:
            del remembered[next(iter(remembered))]
        remembered[key] = await _scheduled_event_time(
            client, workflow_id, run_id, pending.activity_id
        )
    return remembered[key]


async def _scheduled_event_time(
    client: Client, workflow_id: str, run_id: str, activity_id: str
) -> datetime | None:
    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        maximum_page_size=_HISTORY_PAGE,
    )
    scheduled = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    for _ in range(_HISTORY_PAGES):
        page = await client.workflow_service.get_workflow_execution_history_reverse(
            request, retry=True, timeout=WORKER_ANSWER_TIMEOUT
        )
        for event in page.history.events:
            attributes = event.activity_task_scheduled_event_attributes
            if event.event_type == scheduled and attributes.activity_id == activity_id:
                return event.event_time.ToDatetime(tzinfo=UTC)
        if not page.next_page_token:
            break
        request.next_page_token = page.next_page_token
    return None
