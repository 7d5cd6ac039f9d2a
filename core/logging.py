"""structlog, configured once per process; the stdlib (and so Temporal's loggers) goes through it.

Console output by default; JSON lines with ``CAMPAIGNS_LOG_FORMAT=json``. Temporal's workflow
and activity loggers attach a ``temporal_workflow`` / ``temporal_activity`` dict to their
records; those become top-level fields (``workflow_id``, ``run_id``, ``activity_id``, ...), so a
log line can be found from the Web UI and back.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger
from temporalio import activity, workflow

from core.config import Settings

_TEMPORAL_EXTRAS = ("temporal_workflow", "temporal_activity")
# Chatty at INFO about their own machinery on every start.
_QUIET_LOGGERS = ("alembic.runtime.plugins", "httpx", "httpcore")
# Temporal names the run differently for workflows and activities; one field name reads better.
_RENAMED_FIELDS = {"workflow_run_id": "run_id"}


def lift_temporal_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Copy the IDs Temporal's loggers put in ``extra`` onto the event as plain fields."""
    record = event_dict.get("_record")
    if record is None:
        return event_dict
    for extra_name in _TEMPORAL_EXTRAS:
        details = getattr(record, extra_name, None)
        if isinstance(details, Mapping):
            for key, value in details.items():
                name = str(key)
                event_dict.setdefault(_RENAMED_FIELDS.get(name, name), value)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
    ]


def _renderer(log_format: str, stream: TextIO) -> list[Processor]:
    if log_format == "json":
        return [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    colors = bool(getattr(stream, "isatty", lambda: False)())
    return [structlog.dev.ConsoleRenderer(colors=colors)]


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Route structlog and the stdlib root logger to one handler on ``stream`` (stderr).

    Calling it again replaces the handler instead of adding a second one, so output is never
    doubled (tests reconfigure; processes call it once at start).
    """
    output = stream if stream is not None else sys.stderr
    shared = _shared_processors()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, lift_temporal_context],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_renderer(settings.log_format, output),
        ],
    )
    handler = logging.StreamHandler(output)
    handler.setFormatter(formatter)
    handler.set_name("campaigns")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "campaigns"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # The IDs are rendered as fields; Temporal's default also appends them to the message text.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial)
    return logger
