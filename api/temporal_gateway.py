"""The API's one Temporal client, and how Temporal's errors become problem documents.

The client is made once in the lifespan. If Temporal is down when the API starts, the API
still starts (``/healthz`` must answer, ``/readyz`` says what is down) and connects on the
first request that needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta

import structlog
from temporalio.client import (
    Client,
    RPCError,
    RPCTimeoutOrCancelledError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, TemporalError
from temporalio.service import RPCStatusCode

from api.problems import Problem, conflict, unavailable
from core.temporal import connect

CONNECT_TIMEOUT = timedelta(seconds=5)
# How long a query, or an update's acceptance, waits for the campaign's worker before the API
# answers 503 (nothing was accepted then: a retry with the same key is safe).
WORKER_ANSWER_TIMEOUT = timedelta(seconds=10)
# Updates run handler code (an extend records a timeline row through an activity).
UPDATE_ANSWER_TIMEOUT = timedelta(seconds=60)
# How long a top-up request waits for its result once accepted; then it answers 202 and the
# outcome is read with GET .../top-ups/{key}. The lock itself goes on in the workflow.
TOP_UP_WAIT = timedelta(seconds=10)
# Temporal holds about 1,200 open long polls per namespace, shared by every API process and
# worker: one API process holds at most this many waits for update results at once (past it,
# a top-up answers 202 at once rather than wait).
MAX_RESULT_WAITS = 200

log = structlog.get_logger(__name__)


class TemporalGateway:
    def __init__(self, address: str, namespace: str) -> None:
        self.address = address
        self.namespace = namespace
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self.result_waits = asyncio.Semaphore(MAX_RESULT_WAITS)
        # (workflow ID, run ID, activity ID) -> when that activity was first scheduled.
        self.first_scheduled: dict[tuple[str, str, str], datetime | None] = {}

    async def start(self) -> None:
        with contextlib.suppress(Problem):
            await self.client()

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        connect(self.address, self.namespace), CONNECT_TIMEOUT.total_seconds()
                    )
                except (TimeoutError, RuntimeError, TemporalError, OSError) as error:
                    log.warning("temporal unreachable", address=self.address, error=str(error))
                    raise unavailable(f"Temporal at {self.address} is unreachable") from error
            return self._client

    async def healthy(self) -> bool:
        try:
            client = await self.client()
            return await client.service_client.check_health(timeout=timedelta(seconds=3))
        except (Problem, RPCError, RuntimeError, TemporalError):
            return False


def _failure_message(error: BaseException) -> str:
    """The innermost application failure's message (a validator's or an activity's reason),
    not the wrapping ("Workflow update failed", "Activity task failed")."""
    reason: str | None = None
    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.message:
            reason = cause.message
        elif reason is None and str(cause):
            reason = str(cause)
        cause = cause.__cause__
    return reason or str(error) or type(error).__name__


@contextlib.contextmanager
def temporal_errors(campaign_id: str) -> Iterator[None]:
    """Map what Temporal raises to a status a client can act on; never a 500."""
    try:
        yield
    except Problem:
        raise
    except WorkflowUpdateFailedError as error:
        # The update's validator (or handler) refused: its message is the reason.
        raise conflict(_failure_message(error)) from error
    except (WorkflowUpdateRPCTimeoutOrCancelledError, RPCTimeoutOrCancelledError) as error:
        raise unavailable(f"campaign {campaign_id}: its worker did not answer in time") from error
    except WorkflowQueryFailedError as error:
        raise unavailable(f"campaign {campaign_id}: status query failed: {error}") from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise conflict(f"campaign {campaign_id} is not running (it has finished)") from error
        if error.status in (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.ALREADY_EXISTS):
            raise conflict(f"campaign {campaign_id}: {error.message}") from error
        if error.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise unavailable(
                f"campaign {campaign_id}: its worker did not answer in time"
            ) from error
        raise unavailable(f"Temporal refused the call: {error.message}") from error
    except TemporalError as error:
        raise unavailable(f"Temporal error: {error}") from error
