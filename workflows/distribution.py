"""``DistributionWorkflow``: pays a campaign's reward table, batch by batch, exactly once.

A child of ``CampaignWorkflow`` (ID ``distribution_workflow_id_for(campaign)``). It pays the
payout rows by ``seq``, one ``pay_batch`` activity per window of ``batch_size`` seqs (2,000,
paid in ledger calls of 500), up to ``PARALLEL_BATCHES`` windows at once: the windows are
disjoint, so no row is in two batches, and each row's key makes a retried batch pay no one
twice. The activity reads the recipients from the database, so none of them pass through this
history. The number of rows comes with the input (or from the first batch, for a caller that
does not say); seqs are 1..N, and a last batch after the windows pays whatever is still
pending beyond them and gives the final counts. After a batch it signals
``distribution_progress`` (a ``DistributionProgress``) to the parent if the count grew; a
parent that is gone is tolerated. It continues as new when Temporal suggests it or after
``MAX_BATCHES_PER_RUN`` batches, carrying ``after_seq``, and returns the final progress. Runs
from before ``PATCH_PARALLEL_BATCHES`` paid one batch after another and still do.
It takes no messages. A cancellation through Temporal does not stop it: payouts that were
earned are paid (the parent closes the campaign the same way), so every batch runs to its end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

from core.contracts import (
    SIGNAL_DISTRIBUTION_PROGRESS,
    DistributionInput,
    DistributionProgress,
    DistributionResult,
)
from workflows.to_the_end import to_the_end

with workflow.unsafe.imports_passed_through():
    from activities.reward_payloads import PAY_BATCH, PayBatchRequest, PayBatchResult

T = TypeVar("T")

# A cancellation through Temporal is noted and the payouts go on (histories from before it
# were cancelled at once).
PATCH_PAYOUTS_OUTLAST_CANCEL = "payouts-outlast-cancel"

# Windows of seqs paid side by side: enough to overlap the database, the ledger's answer and
# the workflow task round trips, few enough not to swamp a ledger (or a chain's one sender).
PATCH_PARALLEL_BATCHES = "parallel-payout-batches"
PARALLEL_BATCHES = 8

# Keeps each run's history small (about ten events a batch) whatever the number of recipients.
MAX_BATCHES_PER_RUN = 50

# Payouts are keyed, so a retry after a lost response pays no one twice; keep trying through
# ledger outages for a long while, since giving up leaves earned rewards unpaid.
PAYOUT_BATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=60,
)
PAYOUT_BATCH_TIMEOUT = timedelta(minutes=2)
# Side by side, a window waits its turn at a ledger that takes one call (or a chain that takes
# one sender's transactions) at a time: its heartbeat, not this, notices a lost worker.
PAYOUT_WINDOW_TIMEOUT = timedelta(minutes=10)
# The activity heartbeats every few seconds while the ledger call is in flight.
PAYOUT_BATCH_HEARTBEAT_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name="DistributionWorkflow")
class DistributionWorkflow:
    def __init__(self) -> None:
        self._parent_reachable = True
        self._reported: DistributionProgress | None = None

    @workflow.run
    async def run(self, input: DistributionInput) -> DistributionResult:
        if not workflow.patched(PATCH_PARALLEL_BATCHES):
            return await self._one_after_another(input)
        after_seq, batches, total = input.after_seq, 0, input.recipients
        while True:
            if total <= after_seq:
                # The count unknown (or every window paid): one batch after the last seq
                # settles what is left and says how many rows there are.
                result = await self._pay(input, after_seq)
                batches += 1
                await self._progressed(input, result)
                total = max(total, result.progress.recipients)
                after_seq = result.last_seq
                if result.sent == 0 or result.progress.pending == 0:
                    return DistributionResult(progress=result.progress)
            windows = range(after_seq, total, input.batch_size)[: MAX_BATCHES_PER_RUN - batches]
            await self._pay_windows(input, list(windows), total)
            batches += len(windows)
            after_seq = min(total, windows[-1] + input.batch_size) if windows else after_seq
            if after_seq < total and (
                batches >= MAX_BATCHES_PER_RUN or workflow.info().is_continue_as_new_suggested()
            ):
                workflow.continue_as_new(replace(input, after_seq=after_seq, recipients=total))

    async def _pay_windows(self, input: DistributionInput, starts: list[int], total: int) -> None:
        """Pays the windows after each of ``starts`` (each up to ``total``), a few at once."""
        slots = asyncio.Semaphore(PARALLEL_BATCHES)

        async def window(after_seq: int) -> None:
            async with slots:
                through = min(total, after_seq + input.batch_size)
                await self._progressed(input, await self._pay(input, after_seq, through))

        # As a whole to the end too: a cancelled gather would end the run once its windows
        # are paid, before the rest.
        await self._to_the_end(asyncio.gather(*(window(start) for start in starts)))

    async def _pay(
        self,
        input: DistributionInput,
        after_seq: int,
        through_seq: int | None = None,
        timeout: timedelta = PAYOUT_WINDOW_TIMEOUT,
    ) -> PayBatchResult:
        upto = f" through #{through_seq}" if through_seq is not None else ""
        return await self._to_the_end(
            workflow.execute_activity(
                PAY_BATCH,
                PayBatchRequest(
                    campaign_id=input.campaign_id,
                    escrow_id=input.escrow_id,
                    after_seq=after_seq,
                    limit=input.batch_size,
                    through_seq=through_seq,
                ),
                result_type=PayBatchResult,
                start_to_close_timeout=timeout,
                heartbeat_timeout=PAYOUT_BATCH_HEARTBEAT_TIMEOUT,
                retry_policy=PAYOUT_BATCH_RETRY,
                summary=f"pay up to {input.batch_size} recipients after #{after_seq}{upto}",
            )
        )

    async def _progressed(self, input: DistributionInput, result: PayBatchResult) -> None:
        """Shows and reports a batch's counts unless a batch that ended earlier saw as many
        (batches side by side may end in any order)."""
        progress = result.progress
        if self._reported is not None and _settled(progress) <= _settled(self._reported):
            return
        self._reported = progress
        workflow.set_current_details(_details(progress, result.last_seq))
        await self._to_the_end(self._report(input.parent_workflow_id, progress))

    async def _one_after_another(self, input: DistributionInput) -> DistributionResult:
        """The shape runs had before ``PATCH_PARALLEL_BATCHES``: one batch at a time."""
        after_seq = input.after_seq
        batches = 0
        while True:
            result = await self._pay(input, after_seq, timeout=PAYOUT_BATCH_TIMEOUT)
            after_seq = result.last_seq
            batches += 1
            workflow.set_current_details(_details(result.progress, after_seq))
            await self._to_the_end(self._report(input.parent_workflow_id, result.progress))
            if result.sent == 0 or result.progress.pending == 0:
                return DistributionResult(progress=result.progress)
            if batches >= MAX_BATCHES_PER_RUN or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(replace(input, after_seq=after_seq))

    async def _to_the_end(self, awaitable: Awaitable[T]) -> T:
        return await to_the_end(
            awaitable, patch=PATCH_PAYOUTS_OUTLAST_CANCEL, on_cancel=self._cancel_requested
        )

    async def _cancel_requested(self) -> None:
        workflow.logger.warning("cancel requested: paying what was earned first")

    async def _report(self, parent_workflow_id: str, progress: DistributionProgress) -> None:
        if not parent_workflow_id or not self._parent_reachable:
            return
        parent = workflow.get_external_workflow_handle(parent_workflow_id)
        try:
            await parent.signal(SIGNAL_DISTRIBUTION_PROGRESS, progress)
        except FailureError as error:
            # Payouts matter more than their progress report: go on without the parent.
            self._parent_reachable = False
            workflow.logger.warning("parent %s unreachable: %s", parent_workflow_id, error)


def _settled(progress: DistributionProgress) -> int:
    return progress.paid + progress.failed


def _details(progress: DistributionProgress, after_seq: int) -> str:
    """Markdown for the Web UI: where the distribution is."""
    return (
        f"**Distribution** up to #{after_seq}\n\n"
        f"- paid: {progress.paid} of {progress.recipients} ({progress.paid_amount} units)\n"
        f"- failed: {progress.failed}\n"
        f"- pending: {progress.pending}"
    )
