"""Activities of the reward table and its distribution.

``build_reward_table`` turns the recorded engagements into payout rows (one per recipient,
keyed ``<campaign>:payout:<x user id>``); ``pay_batch`` pays the next pending rows through
the ledger with those keys. Database work runs on a worker thread (``asyncio.to_thread``) in
short transactions; the ledger call is async. Both are safe to retry: rows are written once,
and the ledger answers a repeated key with its first receipt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Protocol

from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.reward_payloads import (
    BUILD_REWARD_TABLE,
    PAY_BATCH,
    PayBatchRequest,
    PayBatchResult,
)
from activities.reward_store import (
    CampaignNotFound,
    PendingPayout,
    Settlement,
    current_reward_table,
    distribution_progress,
    next_pending,
    payout_totals,
    record_settlements,
    write_payouts,
)
from clients.ports import (
    MAX_TRANSFERS_PER_BATCH,
    Ledger,
    PermanentError,
    RateLimited,
    Receipt,
    TransferOrder,
)
from core.contracts import DistributionProgress, RewardTableRequest, RewardTableResult
from core.db import SessionFactory
from core.metrics import activity_meter, count_payouts, count_rate_limit_wait
from core.types import utcnow

HEARTBEAT_EVERY = timedelta(seconds=2)
# Rows one activity pays, in ledger calls of MAX_TRANSFERS_PER_BATCH sent side by side: fewer,
# bigger activities spend less of each recipient on Temporal round trips and commits.
MAX_ROWS_PER_ACTIVITY = 2000


class PayoutLedger(Protocol):
    """The part of ``clients.ports.Ledger`` the payouts use (any ``Ledger`` is one)."""

    async def transfer_batch(
        self, escrow_id: str, transfers: Sequence[TransferOrder]
    ) -> list[Receipt]: ...


class RewardActivities:
    def __init__(self, session_factory: SessionFactory, ledger: Ledger | PayoutLedger) -> None:
        self._sessions = session_factory
        self._ledger = ledger

    # --- the reward table -----------------------------------------------------------------

    @activity.defn(name=BUILD_REWARD_TABLE)
    async def build_reward_table(self, request: RewardTableRequest) -> RewardTableResult:
        # Heartbeats all along: a worker killed mid-build is noticed within the heartbeat
        # timeout, not after the five minutes the build may take (a chaos run waited so).
        async with _heartbeating("building the reward table"):
            return await asyncio.to_thread(self._build_reward_table, request)

    def _build_reward_table(self, request: RewardTableRequest) -> RewardTableResult:
        with self._sessions() as session:
            try:
                table = current_reward_table(session, request.campaign_id, request.budget)
            except (CampaignNotFound, ValidationError, ValueError) as error:
                raise ApplicationError(
                    f"cannot build the reward table: {error}",
                    type="InvalidRewardTerms",
                    non_retryable=True,
                ) from error
            write_payouts(session, request.campaign_id, table)
            recipients, earned = payout_totals(session, request.campaign_id)
        if earned > request.budget:
            # Only possible if rows from another budget were already there: never pay them.
            raise ApplicationError(
                f"payout rows total {earned}, more than the budget {request.budget}",
                type="RewardTableOverBudget",
                non_retryable=True,
            )
        return RewardTableResult(earned=earned, recipients=recipients, ineligible=table.ineligible)

    # --- paying a batch -------------------------------------------------------------------

    @activity.defn(name=PAY_BATCH)
    async def pay_batch(self, request: PayBatchRequest) -> PayBatchResult:
        limit = max(1, min(request.limit, MAX_ROWS_PER_ACTIVITY))
        batch = await asyncio.to_thread(self._next_pending, request, limit)
        if batch:
            activity.logger.info("paying %d recipients after seq %d", len(batch), request.after_seq)
            async with _heartbeating({"after_seq": request.after_seq, "size": len(batch)}):
                settlements = await self._pay_in_calls(request.escrow_id, batch)
            await asyncio.to_thread(self._record, settlements)
            count_payouts(activity_meter(), (s.state for s in settlements))
            if len(settlements) < len(batch):
                # Outcome unknown for the rest: retry the batch (their keys make it safe).
                raise ApplicationError(
                    f"the ledger answered {len(settlements)} receipts for {len(batch)} transfers",
                    type="MissingReceipts",
                )
        progress = await asyncio.to_thread(self._progress, request.campaign_id)
        activity.heartbeat({"after_seq": request.after_seq, "progress": progress.__dict__})
        return PayBatchResult(
            last_seq=batch[-1].seq if batch else request.after_seq,
            sent=len(batch),
            progress=progress,
        )

    def _next_pending(self, request: PayBatchRequest, limit: int) -> list[PendingPayout]:
        with self._sessions() as session:
            return next_pending(
                session, request.campaign_id, request.after_seq, limit, request.through_seq
            )

    def _record(self, settlements: Sequence[Settlement]) -> None:
        with self._sessions() as session:
            record_settlements(session, settlements)

    def _progress(self, campaign_id: str) -> DistributionProgress:
        with self._sessions() as session:
            return distribution_progress(session, campaign_id)

    async def _pay_in_calls(
        self, escrow_id: str, batch: Sequence[PendingPayout]
    ) -> list[Settlement]:
        """The batch in ledger calls of at most ``MAX_TRANSFERS_PER_BATCH``, side by side.
        If one fails the activity is retried whole: the keys make the calls that went
        through answer their first receipts again."""
        size = MAX_TRANSFERS_PER_BATCH
        calls = [self._pay(escrow_id, batch[i : i + size]) for i in range(0, len(batch), size)]
        return [s for settled in await asyncio.gather(*calls) for s in settled]

    async def _pay(self, escrow_id: str, batch: Sequence[PendingPayout]) -> list[Settlement]:
        """Send the batch; a batch the ledger refuses as a whole is split to find the
        transfers it refuses, which are recorded failed with the reason."""
        orders = [TransferOrder(key=p.key, to=p.wallet, amount=p.amount) for p in batch]
        try:
            receipts = await self._ledger.transfer_batch(escrow_id, orders)
        except RateLimited as error:
            delay = max(error.reset_at - utcnow(), timedelta(seconds=1))
            count_rate_limit_wait(activity_meter())
            raise ApplicationError(
                str(error), type="RateLimited", next_retry_delay=delay
            ) from error
        except PermanentError as error:
            if _refuses_every_transfer(error):
                raise ApplicationError(
                    f"the ledger refuses payouts from escrow {escrow_id}: {error}",
                    type="EscrowUnavailable",
                    non_retryable=True,
                ) from error
            if len(batch) == 1:
                reason = f"{type(error).__name__}: {error.detail or error}"
                return [Settlement(batch[0].id, "failed", error=reason)]
            middle = len(batch) // 2
            return await self._pay(escrow_id, batch[:middle]) + await self._pay(
                escrow_id, batch[middle:]
            )
        return _settle(batch, receipts)


def _refuses_every_transfer(error: PermanentError) -> bool:
    """An escrow that is missing or closed refuses any batch: splitting it would only send
    one doomed call per recipient."""
    return error.status == 404 or (error.type or "").endswith("escrow-closed")


def _settle(batch: Sequence[PendingPayout], receipts: Sequence[Receipt]) -> list[Settlement]:
    by_key = {receipt.key: receipt for receipt in receipts}
    return [Settlement(p.id, "paid", receipt_id=by_key[p.key].id) for p in batch if p.key in by_key]


@contextlib.asynccontextmanager
async def _heartbeating(details: object) -> AsyncIterator[None]:
    """Heartbeat while a slow ledger call is in flight, so a lost worker is noticed quickly
    while a slow but alive one is not."""

    async def beat() -> None:
        while True:
            activity.heartbeat(details)
            await asyncio.sleep(HEARTBEAT_EVERY.total_seconds())

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
