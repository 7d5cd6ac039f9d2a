"""A tiny workflow for the harness test, in its own module so the sandbox imports only this."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class SmokeWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        await workflow.sleep(timedelta(days=3))
        return await workflow.execute_activity(
            shout, text, start_to_close_timeout=timedelta(seconds=10)
        )
