"""A workflow that reads the wall clock, which workflow code must never do (a replay would see
another time): the worker's sandbox must refuse it, passed-through modules or not."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn(name="ClockReadingWorkflow")
class ClockReadingWorkflow:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()
