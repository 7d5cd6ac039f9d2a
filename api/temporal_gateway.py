"""The API's one Temporal client, and how Temporal's errors become problem documents.

The client is made once in the lifespan. If Temporal is down when the API starts, the API
still starts (``/healthz`` must answer, ``/readyz`` says what is down) and connects on the
first request that needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta

import structlog
from temporalio.client import (
    Client,
    RPCError,
    RPCTimeoutOrCancelledError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import TemporalError
from temporalio.service import RPCStatusCode

from api.problems import Problem, conflict, unavailable
from core.temporal import connect

CONNECT_TIMEOUT = timedelta(seconds=5)
# How long a query or update waits for the campaign's worker before the API answers 503.
WORKER_ANSWER_TIMEOUT = timedelta(seconds=10)
# Updates run handler code (a top-up locks escrow through an activity with retries).
UPDATE_ANSWER_TIMEOUT = timedelta(seconds=60)

log = structlog.get_logger(__name__)


class TemporalGateway:
    def __init__(self, address: str, namespace: str) -> None:
        self.address = address
        self.namespace = namespace
        self._client: Client | None = None
        self._lock = asyncio.Lock()

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
    cause = error.__cause__
    while cause is not None and cause.__cause__ is not None and str(cause) == "":
        cause = cause.__cause__
    return str(cause or error) or type(error).__name__


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
