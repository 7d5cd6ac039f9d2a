"""How errors of the ports become Temporal activity failures.

A rate limit retries after the platform's reset (``next_retry_delay``), a permanent error is
non-retryable by type (the workflow compensates), anything else retries by the policy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from clients.ports import ExternalError, PermanentError, RateLimited
from core.metrics import activity_meter, count_rate_limit_wait
from core.types import utcnow

MIN_RATE_LIMIT_WAIT = timedelta(seconds=1)


def activity_failure(error: ExternalError) -> ApplicationError:
    kind = type(error).__name__
    if isinstance(error, RateLimited):
        wait = max(error.reset_at - utcnow(), MIN_RATE_LIMIT_WAIT)
        count_rate_limit_wait(activity_meter())
        return ApplicationError(str(error), type=kind, next_retry_delay=wait)
    if isinstance(error, PermanentError):
        return ApplicationError(str(error), type=kind, non_retryable=True)
    return ApplicationError(str(error), type=kind)


@contextlib.contextmanager
def as_activity_failures() -> Iterator[None]:
    try:
        yield
    except ExternalError as error:
        raise activity_failure(error) from error


def not_found(what: str) -> ApplicationError:
    return ApplicationError(f"{what} not found", type="NotFound", non_retryable=True)
