"""``DistributionWorkflow``: pays a campaign's reward table, batch by batch, exactly once.

A child of ``CampaignWorkflow`` (ID ``distribution_workflow_id_for(campaign)``). It walks the
payout rows in ``seq`` order, one ``pay_batch`` activity per batch of up to 500; the activity
reads the recipients from the database, so none of them pass through this history. After every
batch it signals ``distribution_progress`` (a ``DistributionProgress``) to the parent; a parent
that is gone is tolerated. It continues as new when Temporal suggests it or after
``MAX_BATCHES_PER_RUN`` batches, carrying ``after_seq``, and returns the final progress.
It takes no messages. A cancellation through Temporal does not stop it: payouts that were
earned are paid (the parent closes the campaign the same way), so every batch runs to its end.
"""

from __future__ import annotations

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
# The activity heartbeats every few seconds while the ledger call is in flight.
PAYOUT_BATCH_HEARTBEAT_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name="DistributionWorkflow")
class DistributionWorkflow:
    def __init__(self) -> None:
        self._parent_reachable = True

    @workflow.run
    async def run(self, input: DistributionInput) -> DistributionResult:
        after_seq = input.after_seq
        batches = 0
        while True:
            result = await self._to_the_end(
                workflow.execute_activity(
                    PAY_BATCH,
                    PayBatchRequest(
                        campaign_id=input.campaign_id,
                        escrow_id=input.escrow_id,
                        after_seq=after_seq,
                        limit=input.batch_size,
                    ),
                    result_type=PayBatchResult,
                    start_to_close_timeout=PAYOUT_BATCH_TIMEOUT,
                    heartbeat_timeout=PAYOUT_BATCH_HEARTBEAT_TIMEOUT,
                    retry_policy=PAYOUT_BATCH_RETRY,
                    summary=f"pay up to {input.batch_size} recipients after #{after_seq}",
                )
            )
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


def _details(progress: DistributionProgress, after_seq: int) -> str:
    """Markdown for the Web UI: where the distribution is."""
    return (
        f"**Distribution** up to #{after_seq}\n\n"
        f"- paid: {progress.paid} of {progress.recipients} ({progress.paid_amount} units)\n"
        f"- failed: {progress.failed}\n"
        f"- pending: {progress.pending}"
    )
