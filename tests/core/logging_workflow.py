"""A workflow and an activity that log, in their own module so the sandbox imports only this."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def greet_in_log(name: str) -> str:
    activity.logger.info("activity greets %s", name)
    return f"hello {name}"


@workflow.defn
class LoggingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        workflow.logger.info("workflow starts for %s", name)
        return await workflow.execute_activity(
            greet_in_log, name, start_to_close_timeout=timedelta(seconds=10)
        )
