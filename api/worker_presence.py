"""Whether any worker polls a workflow's task queue: what the API says when a query times out.

The server answers a query for a task queue nobody has polled for ``NO_POLL_WINDOW`` with
"no poller seen for task queue recently" (FAILED_PRECONDITION), but only at the end of the
query's deadline, less one second for the answer to travel back. On a loaded server that
second runs out and the client sees its own timeout instead ("did not answer in time"), for
as long as the load lasts. Asking the task queue when a worker last began to poll it tells
the two apart (tests/api/test_worker_presence.py, tests/api/test_temporal_stalls.py).
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, RPCError
from temporalio.exceptions import TemporalError

# The server's own window (matching.queryPollerUnavailableWindow).
NO_POLL_WINDOW = timedelta(seconds=20)
# Both calls together; past it, the API does not know and says only "did not answer".
PRESENCE_TIMEOUT = timedelta(seconds=2)


async def seconds_since_last_poll(client: Client, workflow_id: str) -> float | None:
    """Seconds since a worker last began to poll the workflow's task queue (infinite if the
    server remembers none); None if Temporal could not say within ``PRESENCE_TIMEOUT``."""
    try:
        described = await client.get_workflow_handle(workflow_id).describe(
            rpc_timeout=PRESENCE_TIMEOUT
        )
        request = DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(
                name=described.task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
            ),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        answer = await client.workflow_service.describe_task_queue(
            request, timeout=PRESENCE_TIMEOUT
        )
    except (RPCError, TemporalError):
        return None
    polls = [
        poller.last_access_time.ToDatetime(tzinfo=UTC)
        for poller in answer.pollers
        if poller.HasField("last_access_time")
    ]
    if not polls:
        return math.inf
    return (datetime.now(UTC) - max(polls)).total_seconds()


async def no_worker_polls(client: Client, workflow_id: str) -> bool:
    """True only when Temporal says, within ``PRESENCE_TIMEOUT``, that no worker began to
    poll within ``NO_POLL_WINDOW``."""
    try:
        since = await asyncio.wait_for(
            seconds_since_last_poll(client, workflow_id), PRESENCE_TIMEOUT.total_seconds()
        )
    except TimeoutError:
        return False
    return since is not None and since > NO_POLL_WINDOW.total_seconds()
