"""Updates that may outlast a request: wait until the workflow accepts one (its validator
passed), then a bounded time for its result; past that, its outcome is looked up by its ID
(without waiting).

Every wait here is bounded, and one API process holds at most ``MAX_RESULT_WAITS`` of them:
Temporal keeps about 1,200 long polls open per namespace, for all API processes and workers.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage
from temporalio.api.update.v1 import Outcome, UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.service import RPCError, RPCStatusCode

from api.temporal_gateway import WORKER_ANSWER_TIMEOUT, TemporalGateway

T = TypeVar("T")

# Looking without waiting still waits for an update the worker has not accepted yet.
LOOK_TIMEOUT = timedelta(seconds=2)
_STILL_GOING = (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)
_ACCEPTED = UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED


async def start_update(
    client: Client,
    workflow_id: str,
    name: str,
    arg: Any,
    *,
    update_id: str,
    result_type: type[T],
) -> WorkflowUpdateHandle[T]:
    """Return once the workflow has accepted the update, or refused it (the handle's result
    raises ``WorkflowUpdateFailedError`` with the validator's reason). The same ID again
    attaches to the first update, in flight or done, instead of starting another. A worker
    that does not answer in time raises ``WorkflowUpdateRPCTimeoutOrCancelledError``."""
    update: WorkflowUpdateHandle[T] = await client.get_workflow_handle(workflow_id).start_update(
        name,
        arg,
        id=update_id,
        result_type=result_type,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        rpc_timeout=WORKER_ANSWER_TIMEOUT,
    )
    return update


async def wait_for_result(
    gateway: TemporalGateway, update: WorkflowUpdateHandle[T], wait: timedelta
) -> T | None:
    """The update's result if it is done within ``wait``, else None (still going). A refusal
    or a result that came with the start answers at once. With too many waits open in this
    process, only look."""
    if gateway.result_waits.locked():
        return await _result_within(update, 0.0)
    async with gateway.result_waits:
        return await _result_within(update, wait.total_seconds())


async def _result_within(update: WorkflowUpdateHandle[T], seconds: float) -> T | None:
    # A known outcome needs no call; otherwise each poll, and all of them, end by the deadline.
    rpc_timeout = timedelta(seconds=max(seconds, 0.001))
    try:
        if seconds <= 0:
            return await update.result(rpc_timeout=rpc_timeout)
        async with asyncio.timeout(seconds):
            return await update.result(rpc_timeout=rpc_timeout)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return None


async def result_if_done(
    client: Client, workflow_id: str, update_id: str, result_type: type[T]
) -> T | None:
    """The update's result if it is done, else None (still going). Raises
    ``WorkflowUpdateFailedError`` if it failed, and ``RPCError`` NOT_FOUND if the workflow
    never accepted an update with this ID."""
    found = await _look(client, workflow_id, update_id)
    return None if found is None else await _decode(client, found, result_type)


async def _look(client: Client, workflow_id: str, update_id: str) -> Outcome | None:
    # Waiting for the accepted stage answers at once for an update in flight or done.
    request = PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=UpdateRef(
            workflow_execution=WorkflowExecution(workflow_id=workflow_id), update_id=update_id
        ),
        identity=client.identity,
        wait_policy=WaitPolicy(lifecycle_stage=_ACCEPTED),
    )
    try:
        response = await client.workflow_service.poll_workflow_execution_update(
            request, retry=True, timeout=LOOK_TIMEOUT
        )
    except RPCError as error:
        if error.status in _STILL_GOING:
            return None
        raise
    return response.outcome if response.HasField("outcome") else None


async def _decode(client: Client, outcome: Outcome, result_type: type[T]) -> T:
    converter = client.data_converter
    if outcome.HasField("failure"):
        raise WorkflowUpdateFailedError(await converter.decode_failure(outcome.failure))
    [result] = await converter.decode(outcome.success.payloads, [result_type])
    decoded: T = result
    return decoded
