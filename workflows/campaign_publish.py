"""Getting a campaign live: the scheduled wait, then first post, escrow lock, second post.

Pause and cancel act between these steps (nothing in flight is cut off). A cancel before the
first post ends the campaign ``cancelled`` with nothing locked; after it, the campaign closes
early and pays what was earned.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.payloads import (
        LOCK_ESCROW,
        LOCK_TOP_UP,
        PUBLISH_FIRST_POST,
        PUBLISH_SECOND_POST,
        EscrowLocked,
        LockRequest,
        PublishedPost,
        PublishRequest,
        TopUpLockRequest,
    )
    from core.contracts import CampaignStatus
    from workflows import retry
    from workflows.campaign_settlement import CampaignSettlement
    from workflows.campaign_state import recompute_budget


class CampaignPublishing(CampaignSettlement):
    _cancel_reason: str | None
    _paused_at: datetime | None
    _locking: bool
    _top_ups: int
    _exhausted: bool = False

    async def _wait_while_paused(self) -> None:
        """Wait, without a timer, until resumed or cancelled."""
        await workflow.wait_condition(
            lambda: self._paused_at is None or self._cancel_reason is not None
        )

    async def _at_step_boundary(self) -> bool:
        """True to go on; False once a cancel has been asked for."""
        await self._wait_while_paused()
        return self._cancel_reason is None

    async def _start_and_publish(self, start_at: datetime | None) -> bool:
        """Publish the campaign; False if it was cancelled before its first post."""
        assert self._definition is not None
        if start_at is not None and start_at > workflow.now():
            # A pause may have arrived already: then the status stays paused.
            status = CampaignStatus.PAUSED if self._paused_at else CampaignStatus.SCHEDULED
            await self._transition(status, "scheduled", {"start_at": start_at.isoformat()})
            # The start timer runs on while paused; a pause holds the campaign after it fires.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._cancel_reason is not None,
                    timeout=start_at - workflow.now(),
                    timeout_summary=f"scheduled start at {start_at.isoformat()}",
                )
        if not await self._at_step_boundary():
            return False
        await self._transition(CampaignStatus.PUBLISHING, "publishing")
        campaign_id = self._doc.campaign_id
        media = self._definition.media_count
        first = await self._call(
            PUBLISH_FIRST_POST,
            PublishRequest(campaign_id),
            PublishedPost,
            summary=f"first post ({media} media)" if media else "first post",
            timeout=retry.MEDIA_POST_TIMEOUT if media else retry.POST_TIMEOUT,
            heartbeat=retry.MEDIA_HEARTBEAT_TIMEOUT if media else None,
            policy=retry.EXTERNAL_WRITE,
        )
        self._doc.posts.first = first.post_id
        self._doc.published_at = workflow.now()
        await self._note("first_posted", {"post_id": first.post_id})
        if not await self._at_step_boundary():
            return True
        self._locking = True
        try:
            locked = await self._call(
                LOCK_ESCROW,
                LockRequest(campaign_id, amount=self._doc.budget.total),
                EscrowLocked,
                summary=f"lock {self._doc.budget.total} {self._definition.asset} in escrow",
                timeout=retry.LEDGER_TIMEOUT,
                policy=retry.EXTERNAL_WRITE,
            )
        finally:
            self._locking = False
        self._doc.escrow.id, self._doc.escrow.locked = locked.escrow_id, locked.locked
        await self._note("escrow_locked", {"escrow_id": locked.escrow_id, "locked": locked.locked})
        if not await self._at_step_boundary():
            return True
        second = await self._call(
            PUBLISH_SECOND_POST,
            PublishRequest(campaign_id, reply_to=first.post_id),
            PublishedPost,
            summary="second post (the terms), replying to the first",
            timeout=retry.POST_TIMEOUT,
            policy=retry.EXTERNAL_WRITE,
        )
        self._doc.posts.second = second.post_id
        await self._note("second_posted", {"post_id": second.post_id})
        if not await self._at_step_boundary():
            return True
        self._doc.closes_at = workflow.now() + timedelta(seconds=self._definition.duration_seconds)
        await self._transition(
            CampaignStatus.RUNNING, "running", {"closes_at": self._doc.closes_at.isoformat()}
        )
        return True

    async def _lock_top_up(self, amount: int) -> None:
        escrow_id = self._doc.escrow.id
        if escrow_id is not None:
            self._top_ups += 1
            locked = await self._call(
                LOCK_TOP_UP,
                TopUpLockRequest(self._doc.campaign_id, escrow_id, amount, self._top_ups),
                EscrowLocked,
                summary=f"top-up #{self._top_ups}: lock {amount} more",
                timeout=retry.LEDGER_TIMEOUT,
                policy=retry.EXTERNAL_WRITE,
            )
            self._doc.escrow.locked = locked.locked
        # Not locked yet: the first lock takes the whole budget, top-ups included.
        self._doc.budget.total += amount
        recompute_budget(self._doc)
        self._exhausted = False
