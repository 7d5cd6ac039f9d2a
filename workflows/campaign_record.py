"""The campaign's record: its status document, the timeline and what Temporal shows of it.

Every transition and notable event is one ``record_transition`` activity with a seq the
workflow assigns (deterministic, so a retried write lands on the same timeline row), the
``CampaignStatus`` search attribute and the Web UI's current details kept in step.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities.payloads import TransitionRecord
    from core import metrics
    from core.contracts import SEARCH_ATTRIBUTE_STATUS, CampaignStatus, StatusDocument
    from workflows import campaign_steps as steps
    from workflows.campaign_details import details_markdown

CAMPAIGN_STATUS_KEY = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_STATUS)

# Awaits a step to its end (the workflow's guard against being cut short by a cancel).
StepRunner = Callable[[Awaitable[Any]], Awaitable[Any]]


class CampaignRecord:
    def __init__(
        self, doc: StatusDocument, *, seq: int, searched_status: str | None, run: StepRunner
    ) -> None:
        self.doc = doc
        self.seq = seq
        self._searched_status = searched_status
        self._run = run
        # The reward asset's name, for amounts in the Web UI; known once the definition loads.
        self.asset: str | None = None

    @property
    def status(self) -> CampaignStatus:
        return CampaignStatus(self.doc.status)

    def touch(self) -> None:
        """The document changed: stamp it, and keep the search attribute and details current."""
        self.doc.updated_at = workflow.now()
        status = self.doc.status
        if status != self._searched_status:
            workflow.upsert_search_attributes([CAMPAIGN_STATUS_KEY.value_set(status)])
            self._searched_status = status
        workflow.set_current_details(
            details_markdown(self.doc, asset=self.asset, now=workflow.now())
        )

    async def transition(
        self, status: CampaignStatus, kind: str, data: dict[str, Any] | None = None
    ) -> None:
        """Move to ``status`` and record it (campaign row, timeline, search attribute)."""
        self.doc.status = status.value
        # The workflow's meter records nothing during replay: one count per transition made.
        metrics.count_transition(workflow.metric_meter(), status.value)
        await self.note(kind, data)

    async def note(self, kind: str, data: dict[str, Any] | None = None) -> None:
        """Record a notable event on the timeline with the current status document."""
        self.touch()
        self.seq += 1
        record = TransitionRecord(
            campaign_id=self.doc.campaign_id,
            seq=self.seq,
            kind=kind,
            status=self.doc.status,
            # A snapshot: later changes must not leak into a retried write.
            document=copy.deepcopy(self.doc),
            data=data or {},
        )
        await self._run(steps.record_transition(record))
