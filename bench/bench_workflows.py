"""The raw ceiling's workflows, registered by bench/noop_worker.py on its own task queue: no
database, no HTTP, so what they measure is the server and the SDK alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from devserver_workflows import NoOpWorkflow, SequentialActivitiesWorkflow, do_nothing
from temporalio import workflow

__all__ = [
    "BareTimerWorkflow",
    "NoOpWorkflow",
    "QueryableWorkflow",
    "SequentialActivitiesWorkflow",
    "do_nothing",
]


@workflow.defn
class BareTimerWorkflow:
    """Sleeps until ``fire_at`` (ISO 8601, aware) and returns how late its timer fired, in
    seconds: the workflow task's time after the timer minus the instant asked for, the same
    clock a campaign's timeline uses for its move to ``closing``."""

    @workflow.run
    async def run(self, fire_at: str) -> float:
        target = datetime.fromisoformat(fire_at)
        delay = (target - workflow.now()).total_seconds()
        if delay > 0:
            await workflow.sleep(delay)
        return (workflow.now() - target).total_seconds()


@workflow.defn
class QueryableWorkflow:
    """Runs ``activities`` no-op activities (none by default), then waits until told to finish
    and answers a ``status`` query with a small document: the raw ceiling of the API's ``GET
    /status`` (the same query and describe, no campaign). ``ready`` answers once the
    activities are done: a memory floor measured at the history length a campaign has."""

    def __init__(self) -> None:
        self._finished = False
        self._ready = False

    @workflow.run
    async def run(self, activities: int = 0) -> None:
        for _ in range(activities):
            await workflow.execute_activity(
                do_nothing, start_to_close_timeout=timedelta(seconds=30)
            )
        self._ready = True
        await workflow.wait_condition(lambda: self._finished)

    @workflow.query(name="status")
    def status(self) -> dict[str, Any]:
        return {"status": "running", "paused": False, "posts": {"first": None}}

    @workflow.update
    async def ready(self) -> None:
        await workflow.wait_condition(lambda: self._ready)

    @workflow.signal
    def finish(self) -> None:
        self._finished = True
