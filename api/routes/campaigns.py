"""Campaigns: create drafts, list, read, status and timeline.

Routes that touch only the database are plain ``def`` (FastAPI runs them on its thread pool);
routes that also talk to Temporal are ``async`` and move database work to a thread.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from api.campaign_status import readable_status
from api.campaign_store import (
    CampaignFilter,
    create_campaign,
    list_campaigns,
    load_campaign,
    refuse_duplicate_text,
)
from api.campaign_store import timeline as load_timeline
from api.deps import (
    CurrentPrincipal,
    GatewayDep,
    Principal,
    SessionDep,
    SessionFactoryDep,
)
from api.problems import Problem, not_found, problem_responses
from api.schemas import (
    CampaignDetailPublic,
    CampaignPagePublic,
    CampaignPublic,
    StatusAnswerPublic,
    TimelineEventPublic,
    TimelinePublic,
)
from core.campaign_spec import CampaignSpec
from core.contracts import CampaignStatus
from core.db import SessionFactory
from core.models import Campaign, Owner

router = APIRouter(
    prefix="/v1/campaigns", tags=["campaigns"], responses=problem_responses(401, 422, 503)
)

MAX_PAGE_SIZE = 100
# Where a status answer came from: "query" (the workflow) or "recorded" (the database).
STATUS_SOURCE_HEADER = "Campaign-Status-Source"


def to_public(campaign: Campaign) -> CampaignPublic:
    return CampaignPublic.model_validate(
        {
            **campaign.spec,
            "id": campaign.id,
            "owner_id": campaign.owner_id,
            "status": campaign.status,
            "workflow_id": campaign.workflow_id,
            "run_id": campaign.run_id,
            "start_at": campaign.start_at,
            "created_at": campaign.created_at,
            "updated_at": campaign.updated_at,
        }
    )


def load_visible(sessions: SessionFactory, principal: Principal, campaign_id: str) -> Campaign:
    with sessions() as session:
        return load_campaign(session, principal, campaign_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignPublic,
    responses=problem_responses(400, 404, 409),
)
def create(
    spec: CampaignSpec,
    session: SessionDep,
    principal: CurrentPrincipal,
    owner_id: Annotated[
        str | None, Query(description="Operator only: the owner the draft belongs to")
    ] = None,
) -> CampaignPublic:
    """Create a draft. Its validation is the draft's: a 422 names the field. A post text that
    one of the owner's live campaigns already posted is a 409 (X refuses duplicate text)."""
    if principal.is_operator:
        if owner_id is None:
            raise Problem(422, "Invalid request", "owner_id: the operator must name the owner")
        if session.get(Owner, owner_id) is None:
            raise not_found(f"owner {owner_id}")
    elif owner_id is not None and owner_id != principal.owner_id:
        raise not_found(f"owner {owner_id}")
    assert principal.owner_id is not None or owner_id is not None
    owner = owner_id or str(principal.owner_id)
    refuse_duplicate_text(session, owner, spec)
    campaign = create_campaign(session, owner, spec)
    return to_public(campaign)


@router.get("", response_model=CampaignPagePublic)
def list_(
    session: SessionDep,
    principal: CurrentPrincipal,
    status_: Annotated[CampaignStatus | None, Query(alias="status")] = None,
    type_: Annotated[Literal["awareness", "quest"] | None, Query(alias="type")] = None,
    owner_id: str | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> CampaignPagePublic:
    """Newest first; an owner sees only their own campaigns."""
    if not principal.is_operator:
        if owner_id is not None and owner_id != principal.owner_id:
            return CampaignPagePublic(items=[], total=0, page=page, page_size=page_size)
        owner_id = principal.owner_id
    where = CampaignFilter(status=status_.value if status_ else None, type=type_, owner_id=owner_id)
    rows, total = list_campaigns(session, where, page=page, page_size=page_size)
    return CampaignPagePublic(
        items=[to_public(row) for row in rows], total=total, page=page, page_size=page_size
    )


@router.get("/{campaign_id}", response_model=CampaignDetailPublic, responses=problem_responses(404))
async def show(
    campaign_id: str,
    principal: CurrentPrincipal,
    sessions: SessionFactoryDep,
    gateway: GatewayDep,
) -> CampaignDetailPublic:
    """The record with ``live``, its status document (the last recorded one if no worker
    answers in time or Temporal cannot be reached: ``live.source`` says which)."""
    campaign = await asyncio.to_thread(load_visible, sessions, principal, campaign_id)
    live = await readable_status(gateway, sessions, campaign)
    return CampaignDetailPublic.model_validate({**to_public(campaign).model_dump(), "live": live})


@router.get(
    "/{campaign_id}/status", response_model=StatusAnswerPublic, responses=problem_responses(404)
)
async def status_document(
    campaign_id: str,
    principal: CurrentPrincipal,
    sessions: SessionFactoryDep,
    gateway: GatewayDep,
    response: Response,
) -> StatusAnswerPublic:
    """The workflow's ``status`` query (``source: "query"``). For a draft, a finished
    campaign, or when no worker answers within a few seconds (a worker restart) or Temporal
    cannot be reached: the last recorded document (``source: "recorded"``, with
    ``recorded_at``). The ``Campaign-Status-Source`` header says the same."""
    campaign = await asyncio.to_thread(load_visible, sessions, principal, campaign_id)
    answer = await readable_status(gateway, sessions, campaign)
    response.headers[STATUS_SOURCE_HEADER] = answer.source
    return answer


@router.get(
    "/{campaign_id}/timeline", response_model=TimelinePublic, responses=problem_responses(404)
)
def timeline(campaign_id: str, session: SessionDep, principal: CurrentPrincipal) -> TimelinePublic:
    """One row per transition or notable event, oldest first."""
    load_campaign(session, principal, campaign_id)
    return TimelinePublic(
        events=[
            TimelineEventPublic(seq=e.seq, at=e.at, kind=e.kind, status=e.status, data=e.data)
            for e in load_timeline(session, campaign_id)
        ]
    )
