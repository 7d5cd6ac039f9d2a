"""Workflows for bench/devserver_throughput.py, in their own module (the sandbox imports it)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def do_nothing() -> None:
    return None


@workflow.defn
class SequentialActivitiesWorkflow:
    """Runs ``count`` no-op activities one after another: dev-server round trips, nothing else."""

    @workflow.run
    async def run(self, count: int) -> int:
        for _ in range(count):
            await workflow.execute_activity(
                do_nothing, start_to_close_timeout=timedelta(seconds=30)
            )
        return count


@workflow.defn
class NoOpWorkflow:
    @workflow.run
    async def run(self) -> None:
        return None
