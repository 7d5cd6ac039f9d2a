"""A stand-in for the distribution child, registered under the real name, in its own module
so the workflow sandbox imports only this."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from core.contracts import (
    SIGNAL_DISTRIBUTION_PROGRESS,
    DistributionInput,
    DistributionProgress,
    DistributionResult,
)

STANDIN_PAY_ALL = "standin_pay_all"


@workflow.defn(name="DistributionWorkflow")
class StandInDistributionWorkflow:
    @workflow.run
    async def run(self, input: DistributionInput) -> DistributionResult:
        progress: DistributionProgress = await workflow.execute_activity(
            STANDIN_PAY_ALL,
            input,
            result_type=DistributionProgress,
            start_to_close_timeout=timedelta(seconds=30),
        )
        parent = workflow.get_external_workflow_handle(input.parent_workflow_id)
        await parent.signal(SIGNAL_DISTRIBUTION_PROGRESS, progress)
        return DistributionResult(progress=progress)
