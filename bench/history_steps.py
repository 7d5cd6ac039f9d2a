"""Where a workflow's time went, read from Temporal's own history: each activity's wait in the
task queue (scheduled -> started) and its run (started -> closed), and the same for the child
workflows it started, so a benchmark can say what bounds it with the server's clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

_SCHEDULED = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
_STARTED = EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
_CLOSED = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}
_CHILD_STARTED = EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED


@dataclass
class Step:
    activity: str
    scheduled: datetime
    started: datetime | None = None
    closed: datetime | None = None

    @property
    def waited_s(self) -> float:
        return ((self.started or self.scheduled) - self.scheduled).total_seconds()

    @property
    def ran_s(self) -> float:
        if self.started is None or self.closed is None:
            return 0.0
        return (self.closed - self.started).total_seconds()


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime().replace(tzinfo=None)


def _steps_of(events: Iterable[HistoryEvent]) -> tuple[list[Step], list[str]]:
    """The activities of one history (the last attempt's start), and its children's IDs."""
    by_scheduled: dict[int, Step] = {}
    children = []
    for event in events:
        if event.event_type == _SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            by_scheduled[event.event_id] = Step(name, _time(event))
        elif event.event_type == _STARTED:
            step = by_scheduled[event.activity_task_started_event_attributes.scheduled_event_id]
            step.started = _time(event)
        elif event.event_type in _CLOSED:
            attributes = getattr(event, _CLOSED[event.event_type])
            by_scheduled[attributes.scheduled_event_id].closed = _time(event)
        elif event.event_type == _CHILD_STARTED:
            attributes = event.child_workflow_execution_started_event_attributes
            children.append(attributes.workflow_execution.workflow_id)
    return list(by_scheduled.values()), children


async def activity_steps(client: Client, workflow_id: str, since: datetime) -> list[Step]:
    """Every activity scheduled at or after ``since`` (naive UTC or aware) by the workflow's
    latest run and by the children it started, oldest first."""
    since = _naive_utc(since)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    steps, children = _steps_of(history.events)
    for child in children:
        steps += await activity_steps(client, child, since)
    return sorted((s for s in steps if s.scheduled >= since), key=lambda s: s.scheduled)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def summary(steps: list[Step]) -> dict[str, dict[str, float]]:
    """Per activity type, in the order they first ran: how many, the sum of their runs, the
    longest wait in the queue, and their span (first scheduled -> last closed)."""
    figures: dict[str, dict[str, float]] = {}
    spans: dict[str, tuple[datetime, datetime]] = {}
    for step in steps:
        f = figures.setdefault(step.activity, {"count": 0, "ran_s": 0.0, "max_wait_s": 0.0})
        f["count"] += 1
        f["ran_s"] += step.ran_s
        f["max_wait_s"] = max(f["max_wait_s"], step.waited_s)
        first, last = spans.get(step.activity, (step.scheduled, step.scheduled))
        spans[step.activity] = (first, max(last, step.closed or step.scheduled))
    for name, (first, last) in spans.items():
        figures[name]["span_s"] = (last - first).total_seconds()
    return figures
