"""Messages to a campaign's workflow: publish (start), pause/resume/cancel, extend (top-up has
its own module, api/routes/top_ups.py).

Each checks the campaign's current state first and answers 409 with a reason when the message
does not fit; updates are also validated by the workflow, whose refusal is a 409 too.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, status
from pydantic import ValidationError
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.campaign_status import current_status, refusal
from api.campaign_store import record_publish, refuse_duplicate_text
from api.deps import CurrentPrincipal, GatewayDep, SessionFactoryDep, SettingsDep
from api.problems import Problem, conflict, problem_responses
from api.routes.campaigns import load_visible
from api.schemas import (
    ExtendBody,
    ExtendedPublic,
    PublishedPublic,
    PublishRequest,
    ReasonRequest,
    SignalSentPublic,
)
from api.temporal_gateway import (
    UPDATE_ANSWER_TIMEOUT,
    WORKER_ANSWER_TIMEOUT,
    TemporalGateway,
    temporal_errors,
)
from api.validation_messages import explain
from core.campaign_spec import CampaignSpec
from core.contracts import (
    SIGNAL_CANCEL,
    SIGNAL_PAUSE,
    SIGNAL_RESUME,
    UPDATE_EXTEND,
    CampaignStatus,
    ExtendRequest,
    ExtendResult,
)
from core.db import SessionFactory
from core.models import Campaign
from core.temporal import start_campaign_workflow
from core.types import utcnow

# Every message names a campaign (404) and may not fit its state (409).
router = APIRouter(
    prefix="/v1/campaigns",
    tags=["campaign messages"],
    responses=problem_responses(400, 401, 404, 409, 422, 503),
)

_ACCEPTED = status.HTTP_202_ACCEPTED


@router.post("/{campaign_id}/publish", status_code=_ACCEPTED, response_model=PublishedPublic)
async def publish(
    campaign_id: str,
    principal: CurrentPrincipal,
    sessions: SessionFactoryDep,
    gateway: GatewayDep,
    settings: SettingsDep,
    body: PublishRequest | None = None,
) -> PublishedPublic:
    """Start the campaign's workflow. Idempotent: a repeat (even a concurrent one) returns the
    same run; a finished campaign is a 409."""
    campaign = await asyncio.to_thread(load_visible, sessions, principal, campaign_id)
    if CampaignStatus(campaign.status).is_terminal:
        raise conflict(f"campaign {campaign_id} is {campaign.status}; it cannot run again")
    if campaign.workflow_id is not None:
        # A repeat publish. The workflow may have ended its campaign before its last activity
        # wrote the row (a scheduled campaign cancelled a moment ago): ask it, so a repeat
        # never answers 202 for a campaign its own status document calls finished.
        document = await current_status(gateway, sessions, campaign, with_retrying=False)
        if CampaignStatus(document.status).is_terminal:
            raise conflict(
                f"campaign {campaign_id} is {document.status}; it cannot run again",
                campaign_status=document.status,
            )
    try:
        spec = CampaignSpec.model_validate(campaign.spec)
    except ValidationError as error:
        errors, reasons = explain(error.errors())
        detail = f"the stored draft does not validate: {reasons}"
        raise Problem(422, "Invalid draft", detail, errors=errors) from error
    if campaign.workflow_id is None:
        # Another campaign with the same text may have gone live since this draft was made.
        await asyncio.to_thread(
            _refuse_duplicate_text, sessions, campaign.owner_id, spec, campaign.id
        )
    start_at = body.start_at if body else None
    client = await gateway.client()
    with temporal_errors(campaign_id):
        try:
            handle = await start_campaign_workflow(
                client,
                campaign_id=campaign.id,
                owner_id=campaign.owner_id,
                campaign_type=campaign.type,
                name=campaign.name,
                task_queue=settings.task_queue,
                start_at=start_at,
                # Bounded: a stalled Temporal is a 503, and a retried publish is safe.
                rpc_timeout=WORKER_ANSWER_TIMEOUT,
            )
        except WorkflowAlreadyStartedError as error:
            raise conflict(
                f"campaign {campaign_id} has already run to its end; it cannot run again"
            ) from error
    run_id = handle.result_run_id or handle.first_execution_run_id or ""
    scheduled = start_at is not None and start_at > utcnow()
    await asyncio.to_thread(
        _record_publish,
        sessions,
        campaign_id,
        workflow_id=handle.id,
        run_id=run_id,
        start_at=start_at,
        status=CampaignStatus.SCHEDULED if scheduled else CampaignStatus.PUBLISHING,
    )
    return PublishedPublic(workflow_id=handle.id, run_id=run_id)


def _refuse_duplicate_text(
    sessions: SessionFactory, owner_id: str, spec: CampaignSpec, campaign_id: str
) -> None:
    with sessions() as session:
        refuse_duplicate_text(session, owner_id, spec, exclude_id=campaign_id)


def _record_publish(
    sessions: SessionFactory,
    campaign_id: str,
    **values: object,
) -> None:
    with sessions() as session:
        record_publish(session, campaign_id, **values)  # type: ignore[arg-type]


async def _admitted(
    message: str,
    campaign_id: str,
    principal: CurrentPrincipal,
    sessions: SessionFactory,
    gateway: TemporalGateway,
) -> Campaign:
    """The campaign, if ``message`` fits its current state; a 409 with the reason if not."""
    campaign = await asyncio.to_thread(load_visible, sessions, principal, campaign_id)
    document = await current_status(gateway, sessions, campaign, with_retrying=False)
    reason = refusal(message, document)
    if reason is not None:
        raise conflict(reason, campaign_status=document.status)
    assert campaign.workflow_id is not None
    return campaign


async def _signal(
    signal: str,
    campaign_id: str,
    body: ReasonRequest | None,
    principal: CurrentPrincipal,
    sessions: SessionFactory,
    gateway: TemporalGateway,
) -> SignalSentPublic:
    campaign = await _admitted(signal, campaign_id, principal, sessions, gateway)
    assert campaign.workflow_id is not None
    reason = body.reason if body else None
    client = await gateway.client()
    with temporal_errors(campaign_id):
        await client.get_workflow_handle(campaign.workflow_id).signal(
            signal, reason, rpc_timeout=WORKER_ANSWER_TIMEOUT
        )
    return SignalSentPublic(
        campaign_id=campaign_id, workflow_id=campaign.workflow_id, signal=signal, reason=reason
    )


@router.post("/{campaign_id}/pause", status_code=_ACCEPTED, response_model=SignalSentPublic)
async def pause(
    campaign_id: str,
    principal: CurrentPrincipal,
    sessions: SessionFactoryDep,
    gateway: GatewayDep,
    body: ReasonRequest | None = None,
) -> SignalSentPublic:
    """Signal ``pause``: takes effect at the next step boundary; a paused campaign does not
    poll and its end moves by the time it was paused."""
    return await _signal(SIGNAL_PAUSE, campaign_id, body, principal, sessions, gateway)


@router.post("/{campaign_id}/resume", status_code=_ACCEPTED, response_model=SignalSentPublic)
async def resume(
    campaign_id: str,
    principal: CurrentPrincipal,
    sessions: SessionFactoryDep,
    gateway: GatewayDep,
    body: ReasonRequest | None = None,
) -> SignalSentPublic:
    """Signal ``resume`` (only a paused campaign)."""
    return await _signal(SIGNAL_RESUME, campaign_id, body, principal, sessions, gateway)


@router.post("/{campaign_id}/cancel", status_code=_ACCEPTED, response_model=SignalSentPublic)
async def cancel(
    campaign_id: str,
    principal: CurrentPrincipal,
    sessions: SessionFactoryDep,
    gateway: GatewayDep,
    body: ReasonRequest | None = None,
) -> SignalSentPublic:
    """Signal ``cancel``: before the first post it releases everything and ends
    ``cancelled``; after it, the campaign closes early and pays what was earned."""
    return await _signal(SIGNAL_CANCEL, campaign_id, body, principal, sessions, gateway)


@router.post("/{campaign_id}/extend", response_model=ExtendedPublic)
async def extend(
    campaign_id: str,
    body: ExtendBody,
    principal: CurrentPrincipal,
    sessions: SessionFactoryDep,
    gateway: GatewayDep,
) -> ExtendedPublic:
    """The ``extend`` update; the workflow's validator refuses an earlier end (409)."""
    campaign = await _admitted(UPDATE_EXTEND, campaign_id, principal, sessions, gateway)
    assert campaign.workflow_id is not None
    client = await gateway.client()
    with temporal_errors(campaign_id):
        result: ExtendResult = await client.get_workflow_handle(
            campaign.workflow_id
        ).execute_update(
            UPDATE_EXTEND,
            ExtendRequest(closes_at=body.closes_at),
            result_type=ExtendResult,
            rpc_timeout=UPDATE_ANSWER_TIMEOUT,
        )
    return ExtendedPublic(closes_at=result.closes_at)
