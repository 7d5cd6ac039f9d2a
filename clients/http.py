"""The one shared ``httpx.AsyncClient`` of a process, and turning HTTP outcomes into port errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from clients.ports import PermanentError, RateLimited, RetryableError

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=10.0)
DEFAULT_LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=20, keepalive_expiry=30
)
# When a 429 carries no reset header, wait this long rather than hammering.
FALLBACK_RATE_LIMIT_WAIT = timedelta(seconds=60)


def make_http_client(
    *,
    timeout: httpx.Timeout | float | None = None,
    limits: httpx.Limits | None = None,
    user_agent: str = "campaigns/0.1",
) -> httpx.AsyncClient:
    """One client per process (worker, API): pooled connections, bounded, with timeouts."""
    return httpx.AsyncClient(
        timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
        limits=limits or DEFAULT_LIMITS,
        headers={"user-agent": user_agent},
        follow_redirects=False,
    )


async def send(call: Callable[[], Awaitable[httpx.Response]], what: str) -> httpx.Response:
    """Run one request; timeouts and broken connections become ``RetryableError``."""
    try:
        return await call()
    except httpx.TimeoutException as error:
        raise RetryableError(f"{what}: timed out ({type(error).__name__})") from error
    except httpx.TransportError as error:
        raise RetryableError(
            f"{what}: connection failed ({type(error).__name__}: {error})"
        ) from error


def reset_time(response: httpx.Response) -> datetime:
    raw = response.headers.get("x-rate-limit-reset")
    if raw is not None:
        try:
            return datetime.fromtimestamp(int(float(raw)), UTC)
        except (ValueError, OverflowError):
            pass
    retry_after = response.headers.get("retry-after")
    if retry_after is not None and retry_after.isdigit():
        return datetime.now(UTC) + timedelta(seconds=int(retry_after))
    return datetime.now(UTC) + FALLBACK_RATE_LIMIT_WAIT


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def problem_fields(body: Any) -> tuple[str | None, str | None, int | None]:
    """``(type, detail, legacy code)`` from an RFC 7807 problem or X's legacy ``errors[]``."""
    if not isinstance(body, dict):
        return None, None, None
    if isinstance(body.get("type"), str) or isinstance(body.get("detail"), str):
        detail = body.get("detail") or body.get("title")
        return body.get("type"), str(detail) if detail is not None else None, None
    errors = body.get("errors")
    first = (
        errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else body
    )
    code = first.get("code")
    message = first.get("detail") or first.get("message") or first.get("title")
    type_ = first.get("type") if isinstance(first.get("type"), str) else None
    return (
        type_,
        str(message) if message is not None else None,
        code if isinstance(code, int) else None,
    )


def raise_for_status(response: httpx.Response, what: str) -> None:
    """Map a non-2xx answer to the port's errors (429, 5xx, other 4xx)."""
    status = response.status_code
    if status < 400:
        return
    if status == 429:
        reset_at = reset_time(response)
        raise RateLimited(f"{what}: rate limited until {reset_at.isoformat()}", reset_at=reset_at)
    if status >= 500:
        raise RetryableError(f"{what}: server error {status}")
    type_, detail, code = problem_fields(json_or_none(response))
    message = f"{what}: {status} {detail or response.reason_phrase}"
    if code is not None:
        message += f" (code {code})"
    raise PermanentError(message, status=status, type=type_, detail=detail)
