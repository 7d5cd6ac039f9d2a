"""A tiny parent for the distribution tests: starts the child and keeps its progress signals.

In its own module so the workflow sandbox imports only workflow-safe code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from temporalio import workflow

from core.contracts import (
    SIGNAL_DISTRIBUTION_PROGRESS,
    DistributionInput,
    DistributionProgress,
    DistributionResult,
    distribution_workflow_id_for,
)

with workflow.unsafe.imports_passed_through():
    from workflows.distribution import DistributionWorkflow


@dataclass
class ParentReport:
    result: DistributionResult
    reports: list[DistributionProgress] = field(default_factory=list)


@workflow.defn
class DistributionParentWorkflow:
    def __init__(self) -> None:
        self._reports: list[DistributionProgress] = []

    @workflow.run
    async def run(self, input: DistributionInput) -> ParentReport:
        child_input = replace(input, parent_workflow_id=workflow.info().workflow_id)
        result = await workflow.execute_child_workflow(
            DistributionWorkflow.run,
            child_input,
            id=distribution_workflow_id_for(input.campaign_id),
        )
        return ParentReport(result=result, reports=list(self._reports))

    @workflow.signal(name=SIGNAL_DISTRIBUTION_PROGRESS)
    def distribution_progress(self, progress: DistributionProgress) -> None:
        self._reports.append(progress)

    @workflow.query
    def reports(self) -> list[DistributionProgress]:
        return list(self._reports)
