"""``CampaignWorkflow``: one durable workflow per campaign, from its first post to its refund.

Lifecycle (DESIGN.md): scheduled? -> publishing (first post, escrow lock, second post) ->
running <-> paused (a poll every ``poll_interval`` until ``closes_at``) -> closing ->
distributing -> closed; ``cancelled`` before the first post; ``failed`` after compensation.

Messages: signals ``pause``, ``resume``, ``cancel`` (an optional reason string each; one that
does not fit the state changes nothing and is noted on the timeline), updates ``extend`` and
``top_up`` (refused by their validators), query ``status``, and the distribution child's
``distribution_progress`` signal. They act at the next step boundary; nothing in flight is cut.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.payloads import LOAD_CAMPAIGN, CampaignDefinition, CampaignRef
    from core.contracts import (
        QUERY_STATUS,
        SIGNAL_CANCEL,
        SIGNAL_DISTRIBUTION_PROGRESS,
        SIGNAL_PAUSE,
        SIGNAL_RESUME,
        UPDATE_EXTEND,
        UPDATE_TOP_UP,
        CampaignStatus,
        CampaignWorkflowInput,
        DistributionProgress,
        ExtendRequest,
        ExtendResult,
        StatusDocument,
        TopUpRequest,
        TopUpResult,
    )
    from core.temporal import CAMPAIGN_WORKFLOW_NAME
    from workflows import retry
    from workflows.campaign_publish import CampaignPublishing
    from workflows.campaign_state import ACTIVE_STATUSES, apply_progress, recompute_budget

# Continue as new well before Temporal's own limits, even if it has not suggested it yet.
HISTORY_EVENTS_BEFORE_CONTINUE_AS_NEW = 5_000


@workflow.defn(name=CAMPAIGN_WORKFLOW_NAME)
class CampaignWorkflow(CampaignPublishing):
    """One campaign, ``campaign-<id>``; see the module docstring for messages and lifecycle."""

    @workflow.init
    def __init__(self, input: CampaignWorkflowInput) -> None:
        self._input = input
        self._definition: CampaignDefinition | None = None
        self._seq = input.timeline_seq
        self._top_ups = input.top_ups
        self._top_ups_in_flight = 0
        self._locking = False
        self._cancel_reason: str | None = None
        self._paused_at: datetime | None = None
        self._resume_status = CampaignStatus.RUNNING
        self._end_changed = 0
        self._search_status: str | None = None
        if input.carried_status is not None:
            self._doc = input.carried_status
            self._search_status = self._doc.status
        else:
            scheduled = input.start_at is not None and input.start_at > workflow.now()
            status = CampaignStatus.SCHEDULED if scheduled else CampaignStatus.PUBLISHING
            self._doc = StatusDocument(
                campaign_id=input.campaign_id,
                workflow_id=workflow.info().workflow_id,
                status=status.value,
            )

    @workflow.run
    async def run(self, input: CampaignWorkflowInput) -> StatusDocument:
        self._definition = await self._call(
            LOAD_CAMPAIGN,
            CampaignRef(input.campaign_id),
            CampaignDefinition,
            summary="load the campaign definition",
            timeout=retry.DATABASE_TIMEOUT,
            policy=retry.DATABASE,
        )
        try:
            if input.carried_status is None:
                self._doc.budget.total = self._definition.budget
                recompute_budget(self._doc)
                published = await self._start_and_publish(input.start_at)
                if not published:
                    await self._finish(
                        CampaignStatus.CANCELLED, "cancelled", {"reason": self._cancel_reason}
                    )
                    return await self._complete()
            reason = await self._run_until_close()
            await self._close(reason)
        except (ActivityError, ChildWorkflowError, ApplicationError) as error:
            await self._compensate(error)
        return await self._complete()

    async def _complete(self) -> StatusDocument:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._doc

    # --- running ----------------------------------------------------------------------------

    async def _run_until_close(self) -> str:
        """Poll every interval until the end, on one timer re-armed whenever a message moves
        the end; a paused campaign waits with no timer at all. Returns why it closes."""
        assert self._definition is not None
        interval = timedelta(seconds=self._definition.poll_interval_seconds)
        next_poll = workflow.now() + interval
        while True:
            await self._wait_while_paused()
            if self._cancel_reason is not None:
                return f"cancelled: {self._cancel_reason}"
            if self._exhausted:
                return "budget earned"
            closes_at = self._doc.closes_at
            assert closes_at is not None
            now = workflow.now()
            if now >= closes_at:
                return "ended"
            if self._continue_as_new_due():
                await self._continue_as_new()
            wake_at = min(next_poll, closes_at)
            if wake_at > now:
                summary = "campaign end" if wake_at == closes_at else "next poll"
                if await self._woken_before(wake_at - now, summary):
                    continue  # a message arrived: look again, re-arm the timer
                if workflow.now() >= closes_at:
                    return "ended"
            self._exhausted = await self._poll(final=False)
            next_poll = workflow.now() + interval

    async def _woken_before(self, timeout: timedelta, summary: str) -> bool:
        """Wait on one timer; True if pause, cancel or a moved end woke it first."""
        end_version = self._end_changed
        try:
            await workflow.wait_condition(
                lambda: (
                    self._paused_at is not None
                    or self._cancel_reason is not None
                    or self._end_changed != end_version
                ),
                timeout=timeout,
                timeout_summary=summary,
            )
        except TimeoutError:
            return False
        return True

    def _continue_as_new_due(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > HISTORY_EVENTS_BEFORE_CONTINUE_AS_NEW
        )

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            CampaignWorkflowInput(
                campaign_id=self._doc.campaign_id,
                carried_status=self._doc,
                timeline_seq=self._seq,
                top_ups=self._top_ups,
            )
        )

    # --- messages ---------------------------------------------------------------------------

    @workflow.query(name=QUERY_STATUS)
    def status(self) -> StatusDocument:
        return self._doc

    @workflow.signal(name=SIGNAL_PAUSE)
    async def pause(self, reason: str | None = None) -> None:
        status = CampaignStatus(self._doc.status)
        if self._paused_at is not None or status not in ACTIVE_STATUSES:
            await self._note("pause_ignored", {"reason": reason, "why": f"status is {status}"})
            return
        self._paused_at = workflow.now()
        self._resume_status = status
        self._doc.paused = True
        await self._transition(CampaignStatus.PAUSED, "paused", {"reason": reason})

    @workflow.signal(name=SIGNAL_RESUME)
    async def resume(self, reason: str | None = None) -> None:
        if self._paused_at is None or self._doc.status != CampaignStatus.PAUSED:
            await self._note("resume_ignored", {"reason": reason, "why": "not paused"})
            return
        paused_for = workflow.now() - self._paused_at
        self._paused_at = None
        self._doc.paused = False
        if self._doc.closes_at is not None:
            self._doc.closes_at += paused_for
            self._end_changed += 1
        await self._transition(
            self._resume_status,
            "resumed",
            {"reason": reason, "paused_seconds": paused_for.total_seconds()},
        )

    @workflow.signal(name=SIGNAL_CANCEL)
    async def cancel(self, reason: str | None = None) -> None:
        status = CampaignStatus(self._doc.status)
        if self._cancel_reason is not None or status not in ACTIVE_STATUSES:
            await self._note("cancel_ignored", {"reason": reason, "why": f"status is {status}"})
            return
        self._cancel_reason = reason or "no reason given"
        await self._note("cancel_requested", {"reason": reason})

    @workflow.signal(name=SIGNAL_DISTRIBUTION_PROGRESS)
    def distribution_progress(self, progress: DistributionProgress) -> None:
        apply_progress(self._doc, progress)
        self._touch()

    @workflow.update(name=UPDATE_EXTEND)
    async def extend(self, request: ExtendRequest) -> ExtendResult:
        self._doc.closes_at = request.closes_at
        if self._paused_at is not None:
            # The new end is what the owner asked for: only the rest of the pause moves it.
            self._paused_at = workflow.now()
        self._end_changed += 1
        await self._note("extended", {"closes_at": request.closes_at.isoformat()})
        return ExtendResult(closes_at=request.closes_at)

    @extend.validator
    def _validate_extend(self, request: ExtendRequest) -> None:
        status = CampaignStatus(self._doc.status)
        if status not in ACTIVE_STATUSES or self._cancel_reason is not None:
            raise ValueError(f"cannot extend a campaign that is {status}")
        if self._doc.closes_at is None:
            raise ValueError("the campaign has no end time yet: it is not running")
        wanted = request.closes_at
        if wanted.tzinfo is None:
            raise ValueError("closes_at must carry a time zone (UTC)")
        if wanted <= workflow.now():
            raise ValueError("closes_at must be in the future")
        if wanted <= self._doc.closes_at:
            raise ValueError(
                f"closes_at must be later than the current end {self._doc.closes_at.isoformat()}"
            )

    @workflow.update(name=UPDATE_TOP_UP)
    async def top_up(self, request: TopUpRequest) -> TopUpResult:
        self._top_ups_in_flight += 1
        try:
            # The first lock takes the whole budget; a top-up waits for it to know its escrow.
            await workflow.wait_condition(lambda: not self._locking)
            await self._lock_top_up(request.amount)
        finally:
            self._top_ups_in_flight -= 1
        await self._note("topped_up", {"amount": request.amount})
        return TopUpResult(budget=self._doc.budget.total)

    @top_up.validator
    def _validate_top_up(self, request: TopUpRequest) -> None:
        status = CampaignStatus(self._doc.status)
        if status not in ACTIVE_STATUSES or self._cancel_reason is not None:
            raise ValueError(f"cannot top up a campaign that is {status}")
        if request.amount <= 0:
            raise ValueError("amount must be greater than 0")
        if self._doc.budget.total + request.amount > 2**63 - 1:
            raise ValueError("the budget would exceed the largest amount the ledger holds")
