"""A campaign's current status document, and whether a message fits it.

Running workflows answer the ``status`` query, and Temporal's description of the run says
which steps are retrying (one describe beside the query). A campaign that was never published,
or whose workflow has finished, is answered from its row (the last document the workflow
recorded), so a finished campaign needs no worker to replay its history. Reading routes
(``readable_status``) also answer from the row when no worker answers the query within
``STATUS_QUERY_TIMEOUT`` or Temporal cannot be reached: a worker restart is not an outage for
dashboards. Every answer says where it came from (``source``). No database connection is held
while Temporal is asked: each read is its own short session.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog
from temporalio.client import RPCError, WorkflowExecutionStatus, WorkflowQueryRejectedError
from temporalio.common import QueryRejectCondition
from temporalio.exceptions import TemporalError
from temporalio.service import RPCStatusCode

from api.campaign_store import reload
from api.problems import Problem
from api.retrying import retrying_steps
from api.schemas import (
    BudgetPublic,
    RetryingStepPublic,
    StatusAnswerPublic,
    StatusDocumentPublic,
)
from api.temporal_gateway import (
    STATUS_QUERY_TIMEOUT,
    WORKER_ANSWER_TIMEOUT,
    TemporalGateway,
    no_worker_running,
    temporal_errors,
)
from api.worker_presence import no_worker_polls
from core.contracts import (
    QUERY_STATUS,
    SIGNAL_CANCEL,
    SIGNAL_RESUME,
    CampaignStatus,
    workflow_id_for,
)
from core.db import SessionFactory
from core.models import Campaign

log = structlog.get_logger(__name__)

_CLOSED_EXECUTION_STATUS = {
    WorkflowExecutionStatus.COMPLETED: CampaignStatus.CLOSED,
    WorkflowExecutionStatus.CANCELED: CampaignStatus.CANCELLED,
    WorkflowExecutionStatus.FAILED: CampaignStatus.FAILED,
    WorkflowExecutionStatus.TERMINATED: CampaignStatus.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: CampaignStatus.FAILED,
}

# A query's own rpc_timeout that expired is CANCELLED ("Timeout expired"); a server-side
# deadline DEADLINE_EXCEEDED.
_TIMED_OUT = (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)

# Statuses in which the workflow still acts on a message (closing and distributing are past
# the point where pause, cancel, extend or top-up mean anything).
_ACTIVE = frozenset(
    {
        CampaignStatus.SCHEDULED,
        CampaignStatus.PUBLISHING,
        CampaignStatus.RUNNING,
        CampaignStatus.PAUSED,
    }
)


def recorded_document(
    campaign: Campaign, execution_status: WorkflowExecutionStatus | None = None
) -> StatusAnswerPublic:
    """The last document the workflow recorded on the row, else one built from the row;
    ``recorded_at`` is when the row was last written.

    If Temporal says the execution is closed while the record still reads as live (the
    workflow was terminated, or died before recording its end), the closed state wins.
    """
    if campaign.last_status:
        document = StatusAnswerPublic.model_validate(campaign.last_status)
    else:
        document = StatusAnswerPublic(
            campaign_id=campaign.id,
            workflow_id=campaign.workflow_id or workflow_id_for(campaign.id),
            status=campaign.status,
            budget=BudgetPublic(total=campaign.budget, remaining=campaign.budget),
            updated_at=campaign.updated_at,
        )
    document.source = "recorded"
    document.recorded_at = campaign.updated_at
    if execution_status in _CLOSED_EXECUTION_STATUS and not _is_terminal(document.status):
        closed_as = _CLOSED_EXECUTION_STATUS[execution_status]
        document.status = closed_as.value
        if closed_as == CampaignStatus.FAILED and document.failure is None:
            document.failure = f"workflow execution {execution_status.name.lower()}"
    return document


def _is_terminal(status: str) -> bool:
    try:
        return CampaignStatus(status).is_terminal
    except ValueError:
        return False


async def readable_status(
    gateway: TemporalGateway, sessions: SessionFactory, campaign: Campaign
) -> StatusAnswerPublic:
    """The document for a reader: the query's answer, else (no worker answered within
    ``STATUS_QUERY_TIMEOUT``, Temporal unreachable) the last recorded one, re-read."""
    try:
        return await current_status(
            gateway,
            sessions,
            campaign,
            query_timeout=STATUS_QUERY_TIMEOUT,
            name_a_missing_worker=False,  # the recorded document answers either way
        )
    except Problem as problem:
        if problem.status != 503:
            raise
        log.info("status answered from the record", campaign_id=campaign.id, why=problem.detail)
    fresh = await asyncio.to_thread(_reload, sessions, campaign.id)
    return recorded_document(fresh or campaign)


async def current_status(
    gateway: TemporalGateway,
    sessions: SessionFactory,
    campaign: Campaign,
    *,
    with_retrying: bool = True,
    query_timeout: timedelta = WORKER_ANSWER_TIMEOUT,
    name_a_missing_worker: bool = True,
) -> StatusAnswerPublic:
    """The campaign's document now; a 503 problem if its worker does not answer within
    ``query_timeout``, which says "no worker is running" when none polls its task queue
    (``name_a_missing_worker``: two more calls to Temporal, bounded). ``with_retrying`` False
    skips the describe (deciding whether a message fits needs only the status)."""
    if campaign.workflow_id is None or _is_terminal(campaign.status):
        return recorded_document(campaign)
    client = await gateway.client()
    handle = client.get_workflow_handle(campaign.workflow_id, result_type=StatusAnswerPublic)
    retrying = (
        asyncio.create_task(_retrying_or_none(gateway, campaign.workflow_id))
        if with_retrying
        else None
    )
    execution_status: WorkflowExecutionStatus | None = None
    try:
        with temporal_errors(campaign.id):
            try:
                document: StatusAnswerPublic = await handle.query(
                    QUERY_STATUS,
                    result_type=StatusAnswerPublic,
                    reject_condition=QueryRejectCondition.NOT_OPEN,
                    rpc_timeout=query_timeout,
                )
                if retrying is not None:
                    document.retrying = await retrying
                return document
            except WorkflowQueryRejectedError as rejected:
                execution_status = rejected.status
            except RPCError as error:
                if (
                    name_a_missing_worker
                    and error.status in _TIMED_OUT
                    and await no_worker_polls(client, campaign.workflow_id)
                ):
                    raise no_worker_running(campaign.id) from error
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
    finally:
        if retrying is not None and not retrying.done():
            retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retrying
    # Finished (or gone): the row is the record; re-read it, the workflow may just have
    # written its last document.
    fresh = await asyncio.to_thread(_reload, sessions, campaign.id)
    recorded = recorded_document(fresh or campaign)
    if execution_status == WorkflowExecutionStatus.COMPLETED and not _is_terminal(recorded.status):
        # A completed run returned its final document: that, not a guess from "completed"
        # (a campaign cancelled before its first post completes too, as cancelled).
        with contextlib.suppress(TemporalError, RPCError):
            final: StatusAnswerPublic = await handle.result(rpc_timeout=query_timeout)
            return final
    return recorded_document(fresh or campaign, execution_status)


async def _retrying_or_none(gateway: TemporalGateway, workflow_id: str) -> list[RetryingStepPublic]:
    """The retrying steps; none if Temporal cannot say (the status document still answers)."""
    try:
        return await retrying_steps(gateway, workflow_id)
    except (Problem, RPCError, TemporalError) as error:
        log.warning("retrying steps unavailable", workflow_id=workflow_id, error=str(error))
        return []


def _reload(sessions: SessionFactory, campaign_id: str) -> Campaign | None:
    with sessions() as session:
        return reload(session, campaign_id)


def refusal(message: str, document: StatusDocumentPublic) -> str | None:
    """Why ``message`` does not fit the campaign's state now, or None if it does."""
    try:
        status = CampaignStatus(document.status)
    except ValueError:
        return f"the campaign's status '{document.status}' is unknown to this API"
    name = f"campaign {document.campaign_id}"
    if status == CampaignStatus.DRAFT:
        return f"{name} is a draft; publish it first"
    if status.is_terminal:
        return f"{name} is {status.value}; it takes no more messages"
    if status == CampaignStatus.COMPENSATING:
        why = f" ({document.failure})" if document.failure else ""
        return (
            f"{name} is compensating: undoing what was done after a failure{why}; "
            "it takes no messages until it ends"
        )
    if status == CampaignStatus.ATTENTION:
        if message in (SIGNAL_RESUME, SIGNAL_CANCEL):
            return None
        held = document.attention
        why = (
            f": {held.step} was refused ({held.reason}) since {held.since:%Y-%m-%d %H:%M} UTC"
            if held
            else ""
        )
        return f"{name} needs attention{why}; it takes only resume (to try again) or cancel"
    if status not in _ACTIVE:
        return f"{name} is {status.value}; it is past the point where '{message}' applies"
    paused = document.paused or status == CampaignStatus.PAUSED
    if message == "pause" and paused:
        return f"{name} is already paused"
    if message == "resume" and not paused:
        return f"{name} is not paused (it is {status.value})"
    return None
