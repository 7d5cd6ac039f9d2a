"""A workflow whose activities log from our code and fail once, for the log-context tests."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

# The failing attempt's message carries this; no log line may.
LEAKED_TOKEN = "xtok-3f9c1d2e7b6a5f40"


@activity.defn
def count_in_a_thread(name: str) -> int:
    """Synchronous (runs on the worker's thread pool); logs through structlog, as our code does."""
    import structlog

    structlog.get_logger("activities.test").info("counting in a thread", name=name)
    return len(name)


@activity.defn
async def flaky_call(name: str) -> str:
    """Fails its first attempt the way an X call does, with the token in the message."""
    import structlog

    structlog.get_logger("clients.test").info("calling X", name=name)
    if activity.info().attempt == 1:
        raise ApplicationError(
            f"X POST /2/tweets: 503 with Bearer {LEAKED_TOKEN}", type="XUnavailable"
        )
    return f"called for {name}"


@workflow.defn
class LogContextWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        workflow.logger.info("workflow starts for %s", name)
        await workflow.execute_activity(
            count_in_a_thread, name, start_to_close_timeout=timedelta(seconds=10)
        )
        return await workflow.execute_activity(
            flaky_call,
            name,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10)),
        )


@workflow.defn
class BuggyWorkflow:
    """A bug in workflow code: its task fails and Temporal retries the task, logging each try."""

    @workflow.run
    async def run(self, name: str) -> str:
        raise RuntimeError(f"no such step for {name}")
