"""The stand-in workflow's one activity: record the status document on the campaign row and
a timeline row, as the real workflow's activities do."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import func
from sqlmodel import select
from temporalio import activity

from core.contracts import StatusDocument
from core.db import SessionFactory
from core.models import Campaign, TimelineEvent
from core.types import utcnow
from tests.api.standin_workflow import RECORD_STATUS_ACTIVITY

_AS_JSON: TypeAdapter[StatusDocument] = TypeAdapter(StatusDocument)


class StatusRecorder:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn(name=RECORD_STATUS_ACTIVITY)
    def record_status(self, document: StatusDocument) -> None:
        as_json: dict[str, Any] = _AS_JSON.dump_python(document, mode="json")
        with self._sessions() as session:
            campaign = session.get(Campaign, document.campaign_id)
            assert campaign is not None, dataclasses.asdict(document)
            campaign.status = document.status
            campaign.last_status = as_json
            campaign.updated_at = utcnow()
            last_seq = session.exec(
                select(func.max(TimelineEvent.seq)).where(
                    TimelineEvent.campaign_id == document.campaign_id
                )
            ).one()
            session.add(
                TimelineEvent(
                    campaign_id=document.campaign_id,
                    seq=max(int(last_seq or 0), 0) + 1,
                    kind="status",
                    status=document.status,
                    data={"paused": document.paused},
                )
            )
            session.add(campaign)
            session.commit()
