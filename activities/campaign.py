"""Activities over the campaign row: load its definition, record transitions.

``record_transition`` writes one timeline row per (campaign, seq), the seq chosen by the
workflow, so a retried write lands on the same row; the campaign row takes the status document
only if it is not older than the one it has (notes may be written concurrently).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlmodel import Session, select
from temporalio import activity

from activities.errors import not_found
from activities.payloads import (
    LOAD_CAMPAIGN,
    RECORD_TRANSITION,
    CampaignDefinition,
    CampaignRef,
    TransitionRecord,
)
from core.campaign_spec import CampaignSpec
from core.contracts import StatusDocument
from core.db import SessionFactory
from core.models import Campaign, TimelineEvent
from core.types import utcnow

_DOCUMENT = TypeAdapter(StatusDocument)


def document_json(document: StatusDocument) -> dict[str, Any]:
    dumped: dict[str, Any] = _DOCUMENT.dump_python(document, mode="json")
    return dumped


def _is_newer(document: StatusDocument, stored: dict[str, Any] | None) -> bool:
    if not stored or not stored.get("updated_at") or document.updated_at is None:
        return True
    return document.updated_at >= datetime.fromisoformat(str(stored["updated_at"]))


class CampaignActivities:
    def __init__(self, session_factory: SessionFactory) -> None:
        self._sessions = session_factory

    @activity.defn(name=LOAD_CAMPAIGN)
    async def load_campaign(self, ref: CampaignRef) -> CampaignDefinition:
        return await asyncio.to_thread(self._load, ref.campaign_id)

    def _load(self, campaign_id: str) -> CampaignDefinition:
        with self._sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise not_found(f"campaign {campaign_id}")
            spec = CampaignSpec.model_validate(campaign.spec)
            return CampaignDefinition(
                campaign_id=campaign.id,
                owner_id=campaign.owner_id,
                name=campaign.name,
                type=campaign.type,
                asset=campaign.asset,
                budget=campaign.budget,
                duration_seconds=spec.duration_seconds,
                poll_interval_seconds=spec.poll_interval_seconds,
                media_count=len(spec.first_post.media),
            )

    @activity.defn(name=RECORD_TRANSITION)
    async def record_transition(self, record: TransitionRecord) -> None:
        await asyncio.to_thread(self._record, record)

    def _record(self, record: TransitionRecord) -> None:
        with self._sessions() as session:
            if not self._has_event(session, record):
                session.add(
                    TimelineEvent(
                        campaign_id=record.campaign_id,
                        seq=record.seq,
                        at=record.document.updated_at or utcnow(),
                        kind=record.kind,
                        status=record.status,
                        data=record.data,
                    )
                )
            campaign = session.get(Campaign, record.campaign_id)
            if campaign is None:
                raise not_found(f"campaign {record.campaign_id}")
            if _is_newer(record.document, campaign.last_status):
                campaign.status = record.document.status
                campaign.last_status = document_json(record.document)
                campaign.budget = record.document.budget.total or campaign.budget
                campaign.updated_at = utcnow()
                session.add(campaign)
            # A concurrent attempt inserting the same seq fails here and is retried.
            session.commit()

    @staticmethod
    def _has_event(session: Session, record: TransitionRecord) -> bool:
        found = session.exec(
            select(TimelineEvent.id)
            .where(TimelineEvent.campaign_id == record.campaign_id)
            .where(TimelineEvent.seq == record.seq)
        ).first()
        return found is not None
