"""How a campaign ends: close and pay, end cancelled, or compensate and end failed.

Close: a final engagement fetch, the reward table, the distribution child workflow, the refund
of what was not paid and the escrow closed, so locked = paid + refunded. Compensation undoes
what was done (escrow refunded and closed, posts deleted where possible).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.payloads import (
        BUILD_REWARD_TABLE,
        CLOSE_ESCROW,
        DELETE_POSTS,
        DISTRIBUTION_WORKFLOW_NAME,
        POLL_ENGAGEMENT,
        REFUND_ESCROW,
        CampaignRef,
        DeletedPosts,
        EscrowClosed,
        EscrowRequest,
        PollRequest,
        PollResult,
        Refunded,
    )
    from core.contracts import (
        CampaignStatus,
        DistributionInput,
        DistributionResult,
        RewardTableRequest,
        RewardTableResult,
        distribution_workflow_id_for,
    )
    from workflows import retry
    from workflows.campaign_base import CampaignBase
    from workflows.campaign_state import (
        apply_poll,
        apply_progress,
        describe_failure,
        recompute_budget,
    )


class CampaignSettlement(CampaignBase):
    _top_ups_in_flight: int

    async def _poll(self, *, final: bool) -> bool:
        """Fetch engagement; True when the budget is earned out. A failed poll is noted and
        the next one catches up (engagements are kept from poll to poll)."""
        first = self._doc.posts.first
        if first is None:
            return False
        request = PollRequest(
            self._doc.campaign_id, first, budget=self._doc.budget.total, final=final
        )
        try:
            result = await self._call(
                POLL_ENGAGEMENT,
                request,
                PollResult,
                summary="final engagement fetch" if final else "poll engagement",
                timeout=retry.POLL_TIMEOUT,
                policy=retry.EXTERNAL_READ,
            )
        except ActivityError as error:
            await self._note("poll_failed", {"reason": describe_failure(error)})
            return False
        apply_poll(self._doc, result)
        self._touch()
        return result.exhausted

    async def _close(self, reason: str) -> None:
        await workflow.wait_condition(lambda: self._top_ups_in_flight == 0)
        self._doc.paused = False
        await self._transition(CampaignStatus.CLOSING, "closing", {"reason": reason})
        escrow_id = self._doc.escrow.id
        if escrow_id is None:
            # Cancelled after the first post but before anything was locked: nothing to pay.
            await self._finish(CampaignStatus.CLOSED, "closed", {"reason": reason})
            return
        await self._poll(final=True)
        campaign_id = self._doc.campaign_id
        table = await self._call(
            BUILD_REWARD_TABLE,
            RewardTableRequest(campaign_id, budget=self._doc.escrow.locked),
            RewardTableResult,
            summary=f"reward table for {self._doc.escrow.locked} locked",
            timeout=retry.REWARD_TABLE_TIMEOUT,
            policy=retry.DATABASE,
        )
        rewards = self._doc.rewards
        rewards.earned, rewards.recipients = table.earned, table.recipients
        rewards.ineligible, rewards.pending = table.ineligible, table.recipients
        await self._transition(
            CampaignStatus.DISTRIBUTING,
            "distributing",
            {"earned": table.earned, "recipients": table.recipients},
        )
        if table.recipients > 0:
            result = await workflow.execute_child_workflow(
                DISTRIBUTION_WORKFLOW_NAME,
                DistributionInput(campaign_id, escrow_id, workflow.info().workflow_id),
                id=distribution_workflow_id_for(campaign_id),
                result_type=DistributionResult,
                static_summary=f"pay {table.recipients} recipients of campaign {campaign_id}",
            )
            apply_progress(self._doc, result.progress)
            await self._note("distributed", {"paid": result.progress.paid})
        settled = await self._settle_escrow(escrow_id, retry.EXTERNAL_WRITE)
        await self._finish(CampaignStatus.CLOSED, "closed", {"reason": reason, **settled})

    async def _settle_escrow(self, escrow_id: str, policy: Any) -> dict[str, int]:
        """Refund what was not paid to the owner and close the escrow."""
        request = EscrowRequest(self._doc.campaign_id, escrow_id)
        refunded = await self._call(
            REFUND_ESCROW,
            request,
            Refunded,
            summary="refund the unpaid budget to the owner",
            timeout=retry.LEDGER_TIMEOUT,
            policy=policy,
        )
        closed = await self._call(
            CLOSE_ESCROW,
            request,
            EscrowClosed,
            summary="close the escrow",
            timeout=retry.LEDGER_TIMEOUT,
            policy=policy,
        )
        self._doc.budget.refunded = closed.refunded
        self._doc.rewards.paid_amount = max(self._doc.rewards.paid_amount, closed.paid)
        recompute_budget(self._doc)
        return {
            "locked": closed.locked,
            "paid": closed.paid,
            "refunded": closed.refunded,
            "refund_amount": refunded.refunded,
        }

    async def _finish(
        self, status: CampaignStatus, kind: str, data: dict[str, Any] | None = None
    ) -> None:
        self._doc.paused = False
        self._doc.closed_at = workflow.now()
        await self._transition(status, kind, data)

    async def _compensate(self, error: BaseException) -> None:
        """Undo what was done, then end ``failed`` with the reason."""
        reason = describe_failure(error)
        self._doc.failure = reason
        workflow.logger.warning("campaign failed, compensating: %s", reason)
        await self._note("compensating", {"reason": reason})
        await workflow.wait_condition(lambda: self._top_ups_in_flight == 0)
        undone: dict[str, Any] = {}
        problems: list[str] = []
        if self._doc.escrow.id is not None:
            try:
                undone.update(await self._settle_escrow(self._doc.escrow.id, retry.COMPENSATION))
            except ActivityError as undo_error:
                problems.append(f"escrow not released: {describe_failure(undo_error)}")
        if self._doc.posts.first is not None:
            try:
                deleted = await self._call(
                    DELETE_POSTS,
                    CampaignRef(self._doc.campaign_id),
                    DeletedPosts,
                    summary="delete the campaign's posts",
                    timeout=retry.POST_TIMEOUT,
                    policy=retry.COMPENSATION,
                )
                undone["deleted_posts"] = deleted.deleted
            except ActivityError as undo_error:
                problems.append(f"posts not deleted: {describe_failure(undo_error)}")
        if problems:
            self._doc.failure = f"{reason}; compensation incomplete: {'; '.join(problems)}"
        await self._finish(CampaignStatus.FAILED, "failed", {"reason": self._doc.failure, **undone})
