"""Every log line an activity writes names its campaign, workflow, activity type and attempt.

Temporal's own activity logger adds those IDs as ``extra`` (``core.logging`` lifts them);
lines from our code and the libraries it calls (structlog, httpx, SQLAlchemy) do not. This
worker interceptor binds the same fields as structlog context variables for the duration of
each activity attempt; Temporal copies the context into the thread of a synchronous activity.
Workflows need nothing here: their only logger is ``workflow.logger``, which carries the IDs.
"""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from core.logging import campaign_id_of


def activity_log_fields(info: activity.Info) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "workflow_id": info.workflow_id,
        "run_id": info.workflow_run_id,
        "activity_type": info.activity_type,
        "activity_id": info.activity_id,
        "attempt": info.attempt,
    }
    campaign_id = campaign_id_of(info.workflow_id or "")
    if campaign_id:
        fields["campaign_id"] = campaign_id
    return fields


class _BindActivityContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        with structlog.contextvars.bound_contextvars(**activity_log_fields(activity.info())):
            return await super().execute_activity(input)


class LogContextInterceptor(Interceptor):
    """Register on the worker: ``Worker(..., interceptors=[LogContextInterceptor()])``."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindActivityContext(next)
