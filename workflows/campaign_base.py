"""The campaign workflow's plumbing: typed activity calls, transitions and timeline notes.

Every transition and notable event is one ``record_transition`` activity with a seq the
workflow assigns (deterministic, so a retried write lands on the same timeline row), the
``CampaignStatus`` search attribute and the current details kept in step.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities.payloads import RECORD_TRANSITION, CampaignDefinition, TransitionRecord
    from core.contracts import SEARCH_ATTRIBUTE_STATUS, CampaignStatus, StatusDocument
    from workflows import retry
    from workflows.campaign_state import details_markdown

T = TypeVar("T")
CAMPAIGN_STATUS_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_STATUS)


class CampaignBase:
    _doc: StatusDocument
    _seq: int
    _definition: CampaignDefinition | None
    _search_status: str | None

    async def _call(
        self,
        name: str,
        arg: Any,
        result_type: type[T],
        *,
        summary: str,
        timeout: timedelta,
        policy: RetryPolicy,
        heartbeat: timedelta | None = None,
    ) -> T:
        result = await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=timeout,
            heartbeat_timeout=heartbeat,
            retry_policy=policy,
            summary=summary,
        )
        return cast(T, result)

    def _touch(self) -> None:
        self._doc.updated_at = workflow.now()
        status = self._doc.status
        if status != self._search_status:
            workflow.upsert_search_attributes([CAMPAIGN_STATUS_KEY.value_set(status)])
            self._search_status = status
        workflow.set_current_details(details_markdown(self._doc))

    async def _transition(
        self, status: CampaignStatus, kind: str, data: dict[str, Any] | None = None
    ) -> None:
        """Move to ``status`` and record it (campaign row, timeline, search attribute)."""
        self._doc.status = status.value
        await self._note(kind, data)

    async def _note(self, kind: str, data: dict[str, Any] | None = None) -> None:
        """Record a notable event on the timeline with the current status document."""
        self._touch()
        self._seq += 1
        record = TransitionRecord(
            campaign_id=self._doc.campaign_id,
            seq=self._seq,
            kind=kind,
            status=self._doc.status,
            # A snapshot: later changes must not leak into a retried write.
            document=copy.deepcopy(self._doc),
            data=data or {},
        )
        await self._call(
            RECORD_TRANSITION,
            record,
            type(None),
            summary=f"timeline #{record.seq}: {kind} ({record.status})",
            timeout=retry.DATABASE_TIMEOUT,
            policy=retry.DATABASE,
        )
