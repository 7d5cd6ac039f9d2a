"""Every log line from a workflow or an activity names its campaign, workflow, activity type
and attempt, and Temporal's Rust core logs through the same handler as everything else.

Temporal's Python loggers add the IDs as ``extra`` (``core.logging`` lifts them); lines from
our code and the libraries it calls (structlog, httpx, SQLAlchemy) do not. The worker
interceptor here binds the same fields as structlog context variables for the duration of each
activity attempt; Temporal copies the context into the thread of a synchronous activity.
Workflows need nothing: their only logger is ``workflow.logger``, which carries the IDs.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog
from temporalio import activity
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from core.contracts import DISTRIBUTION_WORKFLOW_ID_SUFFIX, WORKFLOW_ID_PREFIX

CORE_LOGGER = "temporalio.core"


def campaign_id_of(workflow_id: str) -> str | None:
    """The campaign a workflow ID belongs to (``campaign-<id>``, ``campaign-<id>-distribution``)."""
    if not workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return None
    campaign_id = workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
    return campaign_id.removesuffix(DISTRIBUTION_WORKFLOW_ID_SUFFIX) or None


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


def core_log_forwarding_runtime() -> Runtime:
    """A Temporal runtime whose Rust core (polling, task failures, server warnings) logs to the
    ``temporalio.core`` stdlib logger, so its lines are formatted and masked like ours, instead
    of printing its own lines straight to stderr."""
    forwarding = LogForwardingConfig(
        logger=logging.getLogger(CORE_LOGGER),
        # The target and the core's fields become fields of the line (core.logging).
        append_target_to_name=False,
        prepend_target_on_message=False,
        append_log_fields_to_message=False,
    )
    levels = TelemetryFilter(core_level="WARN", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(levels, forwarding)))


_forwarding = False


def forward_core_logs() -> None:
    """Make that runtime the default, once per process; clients connected before keep theirs,
    so ``configure_logging`` calls this before a process connects its first client."""
    global _forwarding
    if not _forwarding:
        Runtime.set_default(core_log_forwarding_runtime(), error_if_already_set=False)
        _forwarding = True
