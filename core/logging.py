"""structlog, configured once per process; the stdlib (and so Temporal's loggers) goes through it.

Console output by default; JSON lines with ``CAMPAIGNS_LOG_FORMAT=json``. Temporal's workflow
and activity loggers attach a ``temporal_workflow`` / ``temporal_activity`` dict to their
records; those become top-level fields (``workflow_id``, ``run_id``, ``activity_type``,
``attempt``, ...) and ``campaign_id`` is read off the workflow ID, so a log line can be found
from the Web UI and back.

Exceptions: a WARNING or below (a retry: Temporal's "Completing activity as failed", a failed
workflow task) is one line whose ``error`` field is the reason (``Type: message``, its causes
after ``; caused by``), never a traceback. An ERROR or above (a bug) also carries
``exception``, a short plain traceback (the last frames) printed under the console line or a
string field in JSON. Local variables are never rendered.

Secrets: every rendered line passes through ``redact``: the configured secret values (from
Settings, and any ``register_secret`` adds later) and well-known shapes (``Bearer <x>``,
``ck_<x>``, an ``Authorization`` value, a 0x-prefixed 64-hex private key) become ``***``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TextIO

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, Processor, WrappedLogger
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

from core.config import Settings
from core.log_context import campaign_id_of, forward_core_logs

_TEMPORAL_EXTRAS = ("temporal_workflow", "temporal_activity")
# Chatty at INFO about their own machinery on every start.
_QUIET_LOGGERS = ("alembic.runtime.plugins", "httpx", "httpcore")
# Temporal names the run differently for workflows and activities; one field name reads better.
_RENAMED_FIELDS = {"workflow_run_id": "run_id"}
# A bug's traceback keeps its last frames: where it broke, not the whole framework stack.
TRACEBACK_FRAMES = 8
_MAX_REASON_LENGTH = 500
_MAX_CAUSES = 4
_TRACEBACK_LOGGED = "_campaigns_traceback_logged"
MASK = "***"
# In JSON only: the console line keeps campaign, workflow, activity type and attempt.
_CONSOLE_OMITTED_FIELDS = ("namespace", "task_queue", "run_id", "workflow_type", "activity_id")


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
    # Forwarded from Temporal's Rust core (core.log_context.core_log_forwarding_runtime).
    core_log = getattr(record, "temporal_log", None)
    if core_log is not None:
        event_dict.setdefault("core_target", core_log.target)
        for key, value in dict(core_log.fields).items():
            event_dict.setdefault(str(key), value)
    workflow_id = event_dict.get("workflow_id")
    if isinstance(workflow_id, str) and (campaign_id := campaign_id_of(workflow_id)):
        event_dict.setdefault("campaign_id", campaign_id)
    return event_dict


# --- exceptions ---------------------------------------------------------------------------

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _exc_info_of(value: Any) -> _ExcInfo | None:
    if value is True:
        value = sys.exc_info()
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return value  # type: ignore[return-value]
    return None


def _one_reason(error: BaseException) -> str:
    if isinstance(error, ApplicationError):
        kind, message = error.type or type(error).__name__, error.message
    else:
        kind, message = type(error).__name__, str(error)
    return f"{kind}: {message}" if message else kind


def describe_error(error: BaseException) -> str:
    """One line: the error's type and message, then its causes (Temporal wraps them)."""
    reasons: list[str] = []
    current: BaseException | None = error
    while current is not None and len(reasons) < _MAX_CAUSES:
        reason = _one_reason(current)
        # Our activities re-raise a client's error as an ApplicationError of the same words.
        if not reasons or reasons[-1] != reason:
            reasons.append(reason)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    reason = " ".join("; caused by ".join(reasons).split())
    return reason if len(reason) <= _MAX_REASON_LENGTH else reason[:_MAX_REASON_LENGTH] + "..."


def summarize_exception(_logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Turn ``exc_info`` into ``error`` (always) and ``exception`` (ERROR and above only)."""
    exc_info = _exc_info_of(event_dict.pop("exc_info", None))
    if exc_info is None:
        return event_dict
    event_dict.setdefault("error", describe_error(exc_info[1]))
    level = logging.getLevelName(str(event_dict.get("level", method)).upper())
    if isinstance(level, int) and level >= logging.ERROR and _first_traceback_of(exc_info[1]):
        # Plain traceback module: frames and source lines, never the frames' local variables.
        lines = traceback.format_exception(*exc_info, limit=-TRACEBACK_FRAMES)
        event_dict["exception"] = "".join(lines).rstrip("\n")
    return event_dict


def _first_traceback_of(error: BaseException) -> bool:
    """True once per exception: our 500 handler logs it, then uvicorn logs it again."""
    if getattr(error, _TRACEBACK_LOGGED, False):
        return False
    with contextlib.suppress(AttributeError, TypeError):
        setattr(error, _TRACEBACK_LOGGED, True)
    return True


# --- secrets ------------------------------------------------------------------------------

# Shorter values would mask ordinary words; real secrets are far longer.
_MIN_SECRET_LENGTH = 6
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # The value is a scheme and a credential ("Basic dXNl...") or a bare credential.
    (
        re.compile(
            r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+(?:[ \t]+[^\s\"',;}]+)?"
        ),
        rf"\g<1>{MASK}",
    ),
    # 8+ characters: "bearer token missing" keeps its words; a real token is far longer.
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\g<1>{MASK}"),
    (re.compile(r"\bck_[A-Za-z0-9_-]{6,}"), f"ck_{MASK}"),
    (re.compile(r"\b0x[0-9a-fA-F]{64}\b"), f"0x{MASK}"),
)
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
# One alternation, longest first, rebuilt when a secret is added: a line is scanned once
# however many owners' tokens the worker has seen.
_secrets_pattern: re.Pattern[str] | None = None


def register_secret(value: str | SecretStr | None) -> None:
    """Mask ``value`` in every line logged from now on (e.g. an owner's X token)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    escaped = json.dumps(value)[1:-1]  # how the JSON renderer writes it
    global _secrets_pattern
    with _secrets_lock:
        if {value, escaped} <= _secrets:
            return
        _secrets.update({value, escaped})
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_pattern = re.compile("|".join(map(re.escape, ordered)))


def register_settings_secrets(settings: Settings) -> None:
    """Every secret setting (any ``SecretStr`` field), so a new one is masked without a list."""
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            register_secret(value)


def redact(text: str) -> str:
    known = _secrets_pattern
    if known is not None:
        text = known.sub(MASK, text)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def _redacted(render: Callable[[WrappedLogger, str, EventDict], Any]) -> Processor:
    """The renderer, then the secrets masked in what it wrote (tracebacks included)."""

    def render_redacted(logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
        rendered = render(logger, method, event_dict)
        text = rendered.decode() if isinstance(rendered, bytes) else str(rendered)
        return redact(text)

    return render_redacted


# --- configuration ------------------------------------------------------------------------


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
    ]


def for_the_console(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """A short line: the IDs an operator searches by, and a line break inside a message
    (Temporal's DEBUG lines print protobufs) written as ``\\n``; a bug's traceback stays below."""
    for name in _CONSOLE_OMITTED_FIELDS:
        event_dict.pop(name, None)
    for key, value in event_dict.items():
        if key != "exception" and isinstance(value, str) and "\n" in value:
            event_dict[key] = value.rstrip("\r\n").replace("\r\n", "\n").replace("\n", "\\n")
    return event_dict


def _renderer(log_format: str, stream: TextIO) -> list[Processor]:
    if log_format == "json":
        return [_redacted(structlog.processors.JSONRenderer())]
    colors = bool(getattr(stream, "isatty", lambda: False)())
    # summarize_exception has already replaced exc_info; plain_traceback is the fallback
    # that, unlike the default rich formatter, prints no local variables.
    console = structlog.dev.ConsoleRenderer(
        colors=colors, exception_formatter=structlog.dev.plain_traceback
    )
    return [for_the_console, _redacted(console)]


class _MaskedStreamHandler(logging.StreamHandler[TextIO]):
    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (stdlib's name)
        """The stdlib would print the record's raw message and arguments, secrets and all."""
        error = sys.exc_info()[1]
        reason = type(error).__name__ if error else "unknown error"
        note = f"a log line from {record.name} could not be written: {reason}\n"
        for stream in (self.stream, sys.stderr):  # the stream itself may be what failed
            try:
                stream.write(note)
                return
            except Exception:  # noqa: S112 (nothing else to tell)
                continue


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Route structlog and the stdlib root logger to one handler on ``stream`` (stderr).

    Calling it again replaces the handler instead of adding a second one, so output is never
    doubled (tests reconfigure; processes call it once at start). The settings' secrets are
    registered for masking; secrets registered before stay registered. Temporal's Rust core
    logs through the same handler from the process's next client on.
    """
    output = stream if stream is not None else sys.stderr
    register_settings_secrets(settings)
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
            summarize_exception,
            *_renderer(settings.log_format, output),
        ],
    )
    handler = _MaskedStreamHandler(output)
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
    forward_core_logs()


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial)
    return logger
