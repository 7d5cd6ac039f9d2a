"""``CampaignWorkflow``: one durable workflow per campaign, from its first post to its refund.

Lifecycle (DESIGN.md): scheduled? -> publishing (first post, escrow lock, second post) ->
running <-> paused (a poll every ``poll_interval`` until ``closes_at``) -> closing (a final
fetch that must succeed, the reward table) -> distributing -> closed. ``cancelled`` when
cancelled before the first post; a step that cannot succeed -> compensating -> ``failed``
(and the run ends Failed). A read X refuses holds it in ``attention`` until resumed.

Messages: signals ``pause``, ``resume``, ``cancel`` (an optional reason string each; one that
does not fit the state changes nothing and is noted on the timeline), updates ``extend`` and
``top_up`` (refused by their validators; a top-up is idempotent by its key), query
``status``, and the distribution child's ``distribution_progress``. They act at the next step
boundary; nothing in flight is cut off. A cancellation through Temporal (the Web UI's button,
``temporal workflow cancel``) is the ``cancel`` signal by another road: every step runs to its
end, the campaign closes early or is released, and the run then ends Canceled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.payloads import CampaignDefinition
    from core.contracts import (
        QUERY_STATUS,
        QUERY_TOP_UP_BUDGET,
        SIGNAL_CANCEL,
        SIGNAL_DISTRIBUTION_PROGRESS,
        SIGNAL_PAUSE,
        SIGNAL_RESUME,
        UPDATE_EXTEND,
        UPDATE_TOP_UP,
        AttentionStatus,
        CampaignStatus,
        CampaignWorkflowInput,
        CarriedMessages,
        DistributionProgress,
        ExtendRequest,
        ExtendResult,
        StatusDocument,
        TopUpRequest,
        TopUpResult,
    )
    from core.temporal import CAMPAIGN_WORKFLOW_NAME
    from workflows import campaign_steps as steps
    from workflows import retry
    from workflows.campaign_record import CampaignRecord
    from workflows.campaign_state import (
        ACTIVE_STATUSES,
        apply_poll,
        apply_progress,
        describe_failure,
        is_read_refused,
        recompute_budget,
    )
    from workflows.to_the_end import to_the_end

T = TypeVar("T")

# Changes to the shape this workflow shipped with; histories from before keep replaying.
PATCH_TEMPORAL_CANCEL = "temporal-cancel-is-campaign-cancel"
PATCH_REFUSED_READ = "refused-read-needs-attention"
PATCH_COMPENSATE_FROM_RECORDS = "compensate-from-records"
PATCH_FAILED_RUN = "failed-campaign-fails-its-run"
PATCH_TOP_UP_RECHECK = "top-up-rechecks-the-state"

HELD = frozenset({CampaignStatus.PAUSED, CampaignStatus.ATTENTION})


@workflow.defn(name=CAMPAIGN_WORKFLOW_NAME)
class CampaignWorkflow:
    """One campaign, ``campaign-<id>``; see the module docstring for messages and lifecycle."""

    @workflow.init
    def __init__(self, input: CampaignWorkflowInput) -> None:
        self._input = input
        self._definition: CampaignDefinition | None = None
        self._messages = input.carried or CarriedMessages()
        self._top_ups_in_flight: set[str] = set()
        self._locking = False
        self._exhausted = False
        self._end_changed = 0
        self._cancelled_through_temporal = False
        doc = input.carried_status
        if doc is None:
            scheduled = input.start_at is not None and input.start_at > workflow.now()
            status = CampaignStatus.SCHEDULED if scheduled else CampaignStatus.PUBLISHING
            doc = StatusDocument(input.campaign_id, workflow.info().workflow_id, status.value)
        self._record = CampaignRecord(
            doc,
            seq=input.timeline_seq,
            searched_status=doc.status if input.carried_status else None,
            run=self._step,
        )
        self._doc = doc

    @workflow.run
    async def run(self, input: CampaignWorkflowInput) -> StatusDocument:
        self._definition = await self._step(steps.load_campaign(input.campaign_id))
        self._record.asset = self._definition.asset
        try:
            if input.carried_status is None:
                # Added, not set: a top-up may have been taken while the definition loaded.
                self._doc.budget.total += self._definition.budget
                recompute_budget(self._doc)
                if not await self._publish(input):
                    reason = self._messages.cancel_reason
                    await self._finish(CampaignStatus.CANCELLED, "cancelled", {"reason": reason})
                    return await self._complete()
            await self._close(await self._run_until_close())
        except (ActivityError, ChildWorkflowError, ApplicationError) as error:
            await self._compensate(error)
        return await self._complete()

    async def _complete(self) -> StatusDocument:
        await self._step(workflow.wait_condition(workflow.all_handlers_finished))
        if self._doc.status == CampaignStatus.FAILED and workflow.patched(PATCH_FAILED_RUN):
            # Failed in Temporal too, so its own views (the Web UI's Failures) count it.
            raise ApplicationError(self._doc.failure or "failed", type="CampaignFailed")
        if self._cancelled_through_temporal:
            raise asyncio.CancelledError("cancelled through Temporal")
        return self._doc

    # --- never cut short ------------------------------------------------------------------

    async def _step(self, awaitable: Awaitable[T]) -> T:
        """Await a step to its end; a cancellation through Temporal becomes the campaign's
        own cancel, and the step goes on."""
        return await to_the_end(
            awaitable, patch=PATCH_TEMPORAL_CANCEL, on_cancel=self._cancel_through_temporal
        )

    async def _wait(self, condition: Callable[[], bool], timeout: timedelta | None = None,
                    summary: str | None = None) -> None:  # fmt: skip
        await self._step(
            workflow.wait_condition(condition, timeout=timeout, timeout_summary=summary)
        )

    async def _cancel_through_temporal(self) -> None:
        self._cancelled_through_temporal = True
        await self.cancel("cancelled through Temporal (Web UI or temporal workflow cancel)")

    # --- publishing -----------------------------------------------------------------------

    async def _at_step_boundary(self) -> bool:
        """Wait while paused; True to go on, False once a cancel has been asked for."""
        await self._wait(lambda: not self._held or self._cancel_asked)
        return not self._cancel_asked

    async def _publish(self, input: CampaignWorkflowInput) -> bool:
        """Publish the campaign; False if it was cancelled before its first post."""
        assert self._definition is not None
        start_at, campaign_id = input.start_at, input.campaign_id
        if start_at is not None and start_at > workflow.now():
            # A pause may have arrived already: then the status stays paused.
            status = CampaignStatus.PAUSED if self._held else CampaignStatus.SCHEDULED
            await self._record.transition(status, "scheduled", {"start_at": start_at.isoformat()})
            # The start timer runs on while paused; a pause holds the campaign after it fires.
            with contextlib.suppress(TimeoutError):
                await self._wait(
                    lambda: self._cancel_asked,
                    start_at - workflow.now(),
                    f"scheduled start at {start_at.isoformat()}",
                )
        if not await self._at_step_boundary():
            return False
        await self._record.transition(CampaignStatus.PUBLISHING, "publishing")
        first = await self._step(
            steps.publish_first_post(campaign_id, self._definition.media_count)
        )
        self._doc.posts.first = first.post_id
        self._doc.published_at = workflow.now()
        await self._record.note("first_posted", {"post_id": first.post_id})
        if not await self._at_step_boundary():
            return True
        self._locking = True
        try:
            total, asset = self._doc.budget.total, self._definition.asset
            locked = await self._step(steps.lock_escrow(campaign_id, total, asset))
        finally:
            self._locking = False
        self._doc.escrow.id, self._doc.escrow.locked = locked.escrow_id, locked.locked
        await self._record.note(
            "escrow_locked", {"escrow_id": locked.escrow_id, "locked": locked.locked}
        )
        if not await self._at_step_boundary():
            return True
        second = await self._step(steps.publish_second_post(campaign_id, first.post_id))
        self._doc.posts.second = second.post_id
        await self._record.note("second_posted", {"post_id": second.post_id})
        if not await self._at_step_boundary():
            return True
        self._doc.closes_at = workflow.now() + timedelta(seconds=self._definition.duration_seconds)
        await self._record.transition(
            CampaignStatus.RUNNING, "running", {"closes_at": self._doc.closes_at.isoformat()}
        )
        return True

    # --- running ----------------------------------------------------------------------------

    async def _run_until_close(self) -> str:
        """Poll every interval until the end, on one timer re-armed whenever a message moves
        the end; a held campaign waits with no timer at all. Returns why it closes."""
        assert self._definition is not None
        interval = timedelta(seconds=self._definition.poll_interval_seconds)
        next_poll = workflow.now() + interval
        while True:
            await self._wait(lambda: not self._held or self._cancel_asked)
            if self._cancel_asked:
                return f"cancelled: {self._messages.cancel_reason}"
            if self._exhausted:
                return "budget earned"
            closes_at = self._doc.closes_at
            assert closes_at is not None
            now = workflow.now()
            if now >= closes_at:
                return "ended"
            if self._continue_as_new_due():
                await self._continue_as_new()
                continue  # a message arrived while handing over: look again
            wake_at = min(next_poll, closes_at)
            if wake_at > now:
                summary = "campaign end" if wake_at == closes_at else "next poll"
                if await self._woken_before(wake_at - now, summary):
                    continue  # a message arrived: look again, re-arm the timer
                if workflow.now() >= closes_at:
                    return "ended"
            refused = await self._poll_while_running()
            next_poll = workflow.now() + (timedelta(0) if refused else interval)

    async def _woken_before(self, timeout: timedelta, summary: str) -> bool:
        """Wait on one timer; True if pause, cancel or a moved end woke it first."""
        end_version = self._end_changed
        try:
            await self._wait(
                lambda: self._held or self._cancel_asked or self._end_changed != end_version,
                timeout,
                summary,
            )
        except TimeoutError:
            return False
        return True

    async def _poll_while_running(self) -> bool:
        """One poll; a failed one is noted and the next catches up (engagements are kept from
        poll to poll). True if X refused it and an operator resumed: read again at once."""
        first = self._doc.posts.first
        assert first is not None
        budget = self._doc.budget.total
        try:
            result = await self._step(
                steps.poll_engagement(self._doc.campaign_id, first, budget, final=False)
            )
        except ActivityError as error:
            if is_read_refused(error) and workflow.patched(PATCH_REFUSED_READ):
                await self._needs_attention("poll engagement", error)
                return True
            await self._record.note("poll_failed", {"reason": describe_failure(error)})
            return False
        apply_poll(self._doc, result)
        self._record.touch()
        self._exhausted = bool(result.exhausted)
        return False

    async def _needs_attention(
        self, step: str, error: BaseException, *, cancellable: bool = True
    ) -> None:
        """Hold the campaign until an operator resumes it (or, while running, cancels it)."""
        reason = describe_failure(error)
        self._hold(self._record.status)
        self._doc.attention = AttentionStatus(step=step, reason=reason, since=workflow.now())
        await self._record.transition(
            CampaignStatus.ATTENTION, "attention", {"step": step, "reason": reason}
        )
        await self._wait(lambda: not self._held or (cancellable and self._cancel_asked))

    def _continue_as_new_due(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self._input.continue_as_new_after_events
        )

    async def _continue_as_new(self) -> None:
        """Hand over to a new run with everything the messages left behind; returns instead
        if a message that must be acted on arrived while the handlers finished."""
        end_version = self._end_changed
        await self._wait(workflow.all_handlers_finished)
        if self._held or self._cancel_asked or self._end_changed != end_version:
            return
        workflow.continue_as_new(
            CampaignWorkflowInput(
                campaign_id=self._doc.campaign_id,
                carried_status=self._doc,
                timeline_seq=self._record.seq,
                carried=self._messages,
                continue_as_new_after_events=self._input.continue_as_new_after_events,
            )
        )

    # --- closing ------------------------------------------------------------------------

    async def _close(self, reason: str) -> None:
        await self._wait(lambda: not self._top_ups_in_flight)
        self._release_hold()
        await self._record.transition(CampaignStatus.CLOSING, "closing", {"reason": reason})
        escrow_id, campaign_id = self._doc.escrow.id, self._doc.campaign_id
        if escrow_id is None:
            # Cancelled after the first post but before anything was locked: nothing to pay.
            await self._finish(CampaignStatus.CLOSED, "closed", {"reason": reason})
            return
        await self._final_fetch()
        locked = self._doc.escrow.locked
        table = await self._step(steps.build_reward_table(campaign_id, locked))
        rewards = self._doc.rewards
        rewards.earned, rewards.recipients = table.earned, table.recipients
        rewards.ineligible, rewards.pending = table.ineligible, table.recipients
        await self._record.transition(
            CampaignStatus.DISTRIBUTING,
            "distributing",
            {"earned": table.earned, "recipients": table.recipients},
        )
        if table.recipients > 0:
            workflow_id = workflow.info().workflow_id
            result = await self._step(
                steps.distribute(campaign_id, escrow_id, table.recipients, workflow_id)
            )
            apply_progress(self._doc, result.progress)
            await self._record.note("distributed", {"paid": result.progress.paid})
        settled = await self._settle_escrow(escrow_id)
        await self._finish(CampaignStatus.CLOSED, "closed", {"reason": reason, **settled})

    async def _final_fetch(self) -> None:
        """The last read of engagement must succeed before the reward table is built: it
        waits out outages, and a refusal holds the campaign in ``attention`` until resumed."""
        first = self._doc.posts.first
        assert first is not None
        while True:
            try:
                result = await self._step(
                    steps.poll_engagement(
                        self._doc.campaign_id, first, self._doc.budget.total, final=True
                    )
                )
            except ActivityError as error:
                if not workflow.patched(PATCH_REFUSED_READ):
                    await self._record.note("poll_failed", {"reason": describe_failure(error)})
                    return
                if not is_read_refused(error):
                    raise
                # A cancel changes nothing here: the campaign is closing already.
                await self._needs_attention("final engagement fetch", error, cancellable=False)
                continue
            apply_poll(self._doc, result)
            self._record.touch()
            return

    async def _settle_escrow(self, escrow_id: str) -> dict[str, int]:
        """Refund what was not paid to the owner and close the escrow."""
        campaign_id, policy = self._doc.campaign_id, retry.EXTERNAL_WRITE
        refunded = await self._step(steps.refund_escrow(campaign_id, escrow_id, policy))
        closed = await self._step(steps.close_escrow(campaign_id, escrow_id, policy))
        self._settled(closed.locked, closed.paid, closed.refunded)
        return {
            "locked": closed.locked,
            "paid": closed.paid,
            "refunded": closed.refunded,
            "refund_amount": refunded.refunded,
        }

    def _settled(self, locked: int, paid: int, refunded: int) -> None:
        self._doc.escrow.locked = max(self._doc.escrow.locked, locked)
        self._doc.budget.refunded = refunded
        self._doc.rewards.paid_amount = max(self._doc.rewards.paid_amount, paid)
        recompute_budget(self._doc)

    async def _finish(
        self, status: CampaignStatus, kind: str, data: dict[str, Any] | None = None
    ) -> None:
        self._release_hold()
        self._doc.closed_at = workflow.now()
        await self._record.transition(status, kind, data)

    # --- compensation -------------------------------------------------------------------

    async def _compensate(self, error: BaseException) -> None:
        """Undo what the records say was done, then end ``failed`` with the reason."""
        reason = describe_failure(error)
        self._doc.failure = reason
        workflow.logger.warning("campaign failed, compensating: %s", reason)
        if not workflow.patched(PATCH_COMPENSATE_FROM_RECORDS):
            return await self._compensate_as_shipped(reason)
        self._release_hold()
        await self._record.transition(
            CampaignStatus.COMPENSATING, "compensating", {"reason": reason}
        )
        await self._wait(lambda: not self._top_ups_in_flight)
        undone: dict[str, Any] = {}
        problems: list[str] = []
        try:
            released = await self._step(steps.release_escrow(self._doc.campaign_id))
            if released.escrow_id is not None:
                self._doc.escrow.id = released.escrow_id
                self._settled(released.locked, released.paid, released.refunded)
                undone.update(locked=released.locked, refunded=released.refunded)
        except ActivityError as undo_error:
            problems.append(f"escrow not released: {describe_failure(undo_error)}")
        try:
            deleted = await self._step(steps.delete_posts(self._doc.campaign_id))
            undone["deleted_posts"] = deleted.deleted
        except ActivityError as undo_error:
            problems.append(f"posts not deleted: {describe_failure(undo_error)}")
        await self._failed(reason, problems, undone)

    async def _compensate_as_shipped(self, reason: str) -> None:
        """Compensation as it shipped, from what the workflow received (old histories)."""
        await self._record.note("compensating", {"reason": reason})
        await self._wait(lambda: not self._top_ups_in_flight)
        undone: dict[str, Any] = {}
        problems: list[str] = []
        if self._doc.escrow.id is not None:
            campaign_id, escrow_id = self._doc.campaign_id, self._doc.escrow.id
            try:
                refunded = await self._step(
                    steps.refund_escrow(campaign_id, escrow_id, retry.COMPENSATION)
                )
                closed = await self._step(
                    steps.close_escrow(campaign_id, escrow_id, retry.COMPENSATION)
                )
                self._settled(closed.locked, closed.paid, closed.refunded)
                undone.update(locked=closed.locked, refund_amount=refunded.refunded)
            except ActivityError as undo_error:
                problems.append(f"escrow not released: {describe_failure(undo_error)}")
        if self._doc.posts.first is not None:
            try:
                deleted = await self._step(steps.delete_posts(self._doc.campaign_id))
                undone["deleted_posts"] = deleted.deleted
            except ActivityError as undo_error:
                problems.append(f"posts not deleted: {describe_failure(undo_error)}")
        await self._failed(reason, problems, undone)

    async def _failed(self, reason: str, problems: list[str], undone: dict[str, Any]) -> None:
        if problems:
            self._doc.failure = f"{reason}; compensation incomplete: {'; '.join(problems)}"
        await self._finish(CampaignStatus.FAILED, "failed", {"reason": self._doc.failure, **undone})

    # --- message state ------------------------------------------------------------------

    @property
    def _held(self) -> bool:
        return self._messages.held_since is not None

    @property
    def _cancel_asked(self) -> bool:
        return self._messages.cancel_reason is not None

    def _hold(self, status: CampaignStatus) -> None:
        self._messages.held_since = workflow.now()
        self._messages.resume_status = status.value

    def _release_hold(self) -> None:
        self._messages.held_since = None
        self._doc.paused = False
        self._doc.attention = None

    def _takes_changes(self) -> bool:
        """Pause, extend and top-up fit only before closing, and not once a cancel is asked."""
        return self._record.status in ACTIVE_STATUSES and not self._cancel_asked

    # --- messages -----------------------------------------------------------------------

    @workflow.query(name=QUERY_STATUS)
    def status(self) -> StatusDocument:
        return self._doc

    @workflow.query(name=QUERY_TOP_UP_BUDGET)
    def top_up_budget(self, key: str) -> int | None:
        return self._messages.top_ups.get(key)

    @workflow.signal(name=SIGNAL_PAUSE)
    async def pause(self, reason: str | None = None) -> None:
        status = self._record.status
        if self._held or status not in ACTIVE_STATUSES:
            why = f"status is {status}"
            await self._record.note("pause_ignored", {"reason": reason, "why": why})
            return
        self._hold(status)
        self._doc.paused = True
        await self._record.transition(CampaignStatus.PAUSED, "paused", {"reason": reason})

    @workflow.signal(name=SIGNAL_RESUME)
    async def resume(self, reason: str | None = None) -> None:
        held_since = self._messages.held_since
        if held_since is None or self._record.status not in HELD:
            await self._record.note("resume_ignored", {"reason": reason, "why": "not paused"})
            return
        held_for = workflow.now() - held_since
        back_to = CampaignStatus(self._messages.resume_status or CampaignStatus.RUNNING)
        self._release_hold()
        if self._doc.closes_at is not None and back_to != CampaignStatus.CLOSING:
            self._doc.closes_at += held_for  # a held campaign does not spend its time
            self._end_changed += 1
        await self._record.transition(
            back_to, "resumed", {"reason": reason, "paused_seconds": held_for.total_seconds()}
        )

    @workflow.signal(name=SIGNAL_CANCEL)
    async def cancel(self, reason: str | None = None) -> None:
        status = self._record.status
        held_while_active = (
            status == CampaignStatus.ATTENTION
            and CampaignStatus(self._messages.resume_status or "closing") in ACTIVE_STATUSES
        )
        if self._cancel_asked or (status not in ACTIVE_STATUSES and not held_while_active):
            why = f"status is {status}"
            await self._record.note("cancel_ignored", {"reason": reason, "why": why})
            return
        self._messages.cancel_reason = reason or "no reason given"
        await self._record.note("cancel_requested", {"reason": reason})

    @workflow.signal(name=SIGNAL_DISTRIBUTION_PROGRESS)
    def distribution_progress(self, progress: DistributionProgress) -> None:
        apply_progress(self._doc, progress)
        self._record.touch()

    @workflow.update(name=UPDATE_EXTEND)
    async def extend(self, request: ExtendRequest) -> ExtendResult:
        self._doc.closes_at = request.closes_at
        if self._held:
            # The new end is what the owner asked for: only the rest of the pause moves it.
            self._messages.held_since = workflow.now()
        self._end_changed += 1
        await self._record.note("extended", {"closes_at": request.closes_at.isoformat()})
        return ExtendResult(closes_at=request.closes_at)

    @extend.validator
    def _validate_extend(self, request: ExtendRequest) -> None:
        if not self._takes_changes():
            raise ValueError(f"cannot extend a campaign that is {self._record.status}")
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
        key = _top_up_key(request)
        # The same key again (a client's retry, maybe after continue-as-new): its first answer.
        await workflow.wait_condition(lambda: key not in self._top_ups_in_flight)
        if key in self._messages.top_ups:
            return TopUpResult(budget=self._messages.top_ups[key])
        self._top_ups_in_flight.add(key)
        try:
            # It adds to the budget once that is known; the first lock takes the whole
            # budget, so a top-up waits for it to know its escrow.
            await workflow.wait_condition(
                lambda: self._definition is not None and not self._locking
            )
            if not self._takes_changes() and workflow.patched(PATCH_TOP_UP_RECHECK):
                raise ApplicationError(
                    f"the campaign became {self._record.status} meanwhile; nothing was locked",
                    type="TopUpRefused",
                )
            await self._lock_top_up(request.amount, key)
        finally:
            self._top_ups_in_flight.discard(key)
        self._messages.top_ups[key] = self._doc.budget.total
        await self._record.note("topped_up", {"amount": request.amount, "key": key})
        return TopUpResult(budget=self._doc.budget.total)

    async def _lock_top_up(self, amount: int, key: str) -> None:
        escrow_id = self._doc.escrow.id
        if escrow_id is not None:
            locked = await steps.lock_top_up(self._doc.campaign_id, escrow_id, amount, key)
            self._doc.escrow.locked = locked.locked
        # Not locked yet: the first lock takes the whole budget, top-ups included.
        self._doc.budget.total += amount
        recompute_budget(self._doc)
        self._exhausted = False

    @top_up.validator
    def _validate_top_up(self, request: TopUpRequest) -> None:
        if _top_up_key(request) in self._messages.top_ups:
            return  # a retry: it answers with the first result whatever the state now
        if not self._takes_changes():
            raise ValueError(f"cannot top up a campaign that is {self._record.status}")
        if request.amount <= 0:
            raise ValueError("amount must be greater than 0")
        if self._doc.budget.total + request.amount > 2**63 - 1:
            raise ValueError("the budget would exceed the largest amount the ledger holds")


def _top_up_key(request: TopUpRequest) -> str:
    """The client's idempotency key; without one, the update's ID (Temporal's own dedup)."""
    return request.key or workflow.current_update_info().id  # type: ignore[union-attr]
