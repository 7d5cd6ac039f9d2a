"""A stand-in for the campaign workflow, registered under the real name "CampaignWorkflow".

It honours the contract's messages (signals pause/resume/cancel, updates extend/top_up with
validators, query status) and records its status on the row through an activity, like the real
workflow, so the API can be tested on its own. Its own module: the workflow sandbox imports it.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow

from core.contracts import (
    BudgetStatus,
    CampaignStatus,
    CampaignWorkflowInput,
    ExtendRequest,
    ExtendResult,
    StatusDocument,
    TopUpRequest,
    TopUpResult,
    workflow_id_for,
)

RECORD_STATUS_ACTIVITY = "record_status"
STANDIN_DURATION = timedelta(hours=1)
STANDIN_BUDGET = 1_000


@workflow.defn(name="CampaignWorkflow")
class StandInCampaignWorkflow:
    def __init__(self) -> None:
        self._doc = StatusDocument(campaign_id="", workflow_id="", status="publishing")
        self._cancelled = False
        self._dirty = False

    @workflow.run
    async def run(self, start: CampaignWorkflowInput) -> StatusDocument:
        doc = self._doc
        doc.campaign_id = start.campaign_id
        doc.workflow_id = workflow_id_for(start.campaign_id)
        doc.budget = BudgetStatus(total=STANDIN_BUDGET, remaining=STANDIN_BUDGET)
        if start.start_at is not None and start.start_at > workflow.now():
            await self._set(CampaignStatus.SCHEDULED)
            delay = start.start_at - workflow.now()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._cancelled, timeout=delay)
            if self._cancelled:
                await self._set(CampaignStatus.CANCELLED)
                return doc
        doc.published_at = workflow.now()
        doc.closes_at = workflow.now() + STANDIN_DURATION
        await self._set(CampaignStatus.RUNNING)
        while not self._cancelled and workflow.now() < self._closes_at():
            try:
                await workflow.wait_condition(
                    lambda: self._cancelled or self._dirty,
                    timeout=self._closes_at() - workflow.now(),
                )
            except TimeoutError:
                break
            if self._dirty and not self._cancelled:
                self._dirty = False
                await self._set(CampaignStatus.PAUSED if doc.paused else CampaignStatus.RUNNING)
        await self._set(CampaignStatus.CLOSING)
        doc.closed_at = workflow.now()
        await self._set(CampaignStatus.CLOSED)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return doc

    def _closes_at(self) -> datetime:
        assert self._doc.closes_at is not None
        return self._doc.closes_at

    async def _set(self, status: CampaignStatus) -> None:
        self._doc.status = status.value
        self._doc.updated_at = workflow.now()
        await workflow.execute_activity(
            RECORD_STATUS_ACTIVITY, self._doc, start_to_close_timeout=timedelta(seconds=10)
        )

    @workflow.signal(name="pause")
    def pause(self, reason: str | None = None) -> None:
        if not self._doc.paused:
            self._doc.paused = True
            self._dirty = True

    @workflow.signal(name="resume")
    def resume(self, reason: str | None = None) -> None:
        if self._doc.paused:
            self._doc.paused = False
            self._dirty = True

    @workflow.signal(name="cancel")
    def cancel(self, reason: str | None = None) -> None:
        self._cancelled = True

    @workflow.query(name="status")
    def status(self) -> StatusDocument:
        return self._doc

    @workflow.update(name="extend")
    def extend(self, request: ExtendRequest) -> ExtendResult:
        self._doc.closes_at = request.closes_at
        self._dirty = True
        return ExtendResult(closes_at=request.closes_at)

    @extend.validator
    def _validate_extend(self, request: ExtendRequest) -> None:
        if request.closes_at <= workflow.now():
            raise ValueError("closes_at must be in the future")
        if self._doc.closes_at is not None and request.closes_at <= self._doc.closes_at:
            raise ValueError(f"closes_at must be later than the current end {self._doc.closes_at}")

    @workflow.update(name="top_up")
    def top_up(self, request: TopUpRequest) -> TopUpResult:
        budget = self._doc.budget
        budget.total += request.amount
        budget.remaining += request.amount
        return TopUpResult(budget=budget.total)

    @top_up.validator
    def _validate_top_up(self, request: TopUpRequest) -> None:
        if request.amount <= 0:
            raise ValueError("amount must be greater than 0")
