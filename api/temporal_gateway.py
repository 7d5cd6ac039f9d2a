"""The API's one Temporal client, and how Temporal's errors become problem documents.

The client is made once in the lifespan. If Temporal is down when the API starts, the API
still starts (``/healthz`` must answer, ``/readyz`` says what is down) and connects on the
first request that needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import structlog
from temporalio.client import (
    Client,
    Interceptor,
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
# How long a reader's status query waits for the worker before the API answers from the
# recorded document instead (a worker restart takes longer; dashboards should not wait on it).
STATUS_QUERY_TIMEOUT = timedelta(seconds=3)
# After Temporal could not be reached, requests in this window fail at once instead of each
# waiting CONNECT_TIMEOUT in turn behind the connect lock.
RECONNECT_BACKOFF = timedelta(seconds=2)
# Updates run handler code (an extend records a timeline row through an activity).
UPDATE_ANSWER_TIMEOUT = timedelta(seconds=60)
# How long a top-up request waits for its result once accepted; then it answers 202 and the
# outcome is read with GET .../top-ups/{key}. The lock itself goes on in the workflow.
TOP_UP_WAIT = timedelta(seconds=10)
# Temporal holds about 1,200 open long polls per namespace, shared by every API process and
# worker: one API process holds at most this many waits for update results at once (past it,
# a top-up answers 202 at once rather than wait).
MAX_RESULT_WAITS = 200

# The server's answer to a query for a task queue nothing has polled for about 20 s.
_NO_POLLER = "no poller seen"

log = structlog.get_logger(__name__)


class TemporalGateway:
    def __init__(
        self, address: str, namespace: str, *, interceptors: Sequence[Interceptor] = ()
    ) -> None:
        """``interceptors`` see every client call (tests use one to watch the pool)."""
        self.address = address
        self.namespace = namespace
        self._interceptors = list(interceptors)
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        # (monotonic time, problem) of the last failed connect.
        self._last_failure: tuple[float, Problem] | None = None
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
                self._raise_recent_failure()
                try:
                    client = await asyncio.wait_for(
                        connect(self.address, self.namespace), CONNECT_TIMEOUT.total_seconds()
                    )
                except (TimeoutError, RuntimeError, TemporalError, OSError) as error:
                    log.warning("temporal unreachable", address=self.address, error=str(error))
                    problem = unavailable(f"Temporal at {self.address} is unreachable")
                    self._last_failure = (time.monotonic(), problem)
                    raise problem from error
                if self._interceptors:
                    config = client.config()
                    config["interceptors"] = self._interceptors
                    client = Client(**config)
                self._client = client
            return self._client

    def _raise_recent_failure(self) -> None:
        if self._last_failure is None:
            return
        failed_at, problem = self._last_failure
        if time.monotonic() - failed_at < RECONNECT_BACKOFF.total_seconds():
            raise unavailable(problem.detail)
        self._last_failure = None

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
        no_poller = _NO_POLLER in error.message.lower()
        if error.status == RPCStatusCode.FAILED_PRECONDITION and no_poller:
            # Nothing has polled the task queue for a while: the worker is down, not the
            # campaign in the wrong state.
            raise no_worker_running(campaign_id) from error
        if error.status in (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.ALREADY_EXISTS):
            raise conflict(f"campaign {campaign_id}: {error.message}") from error
        if error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            # An rpc_timeout that expired is CANCELLED ("Timeout expired"), a server-side
            # deadline DEADLINE_EXCEEDED.
            raise unavailable(
                f"campaign {campaign_id}: Temporal or its worker did not answer in time"
            ) from error
        raise unavailable(f"Temporal refused the call: {error.message}") from error
    except TemporalError as error:
        raise unavailable(f"Temporal error: {error}") from error


def no_worker_running(campaign_id: str) -> Problem:
    return unavailable(f"campaign {campaign_id}: no worker is running for it")
