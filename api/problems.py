"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every refusal the API makes is a ``Problem``; validation errors name the field; anything
unexpected is still a problem document, never a bare traceback.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.validation_messages import explain

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Seconds a client should wait before it asks again after a 503: a busy pool frees up, or a
# worker or database comes back, within moments more often than not.
RETRY_AFTER_SECONDS = 1

log = structlog.get_logger(__name__)

# What each refusal means, for the OpenAPI description of the routes that can make it.
_PROBLEM_DESCRIPTIONS = {
    400: "The body could not be read as JSON text (e.g. it is not UTF-8)",
    401: "No API key, or one that is unknown or revoked",
    403: "Only the operator key may do this",
    404: "No such campaign, owner or top-up for this key",
    409: "The campaign's state does not allow this; `detail` says why",
    422: "Invalid request: `errors` names each field and why",
    503: "A dependency (the database or Temporal) is unavailable or busy; ask again (after "
    "`Retry-After` seconds where it is sent)",
}

# An RFC 9457 problem document, inlined: its media type is not the routes' own
# (application/json), so FastAPI's ``model=`` would file it under the wrong one.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "422: each invalid field, where it is and why",
            "items": {"type": "object"},
        },
        "campaign_status": {"type": "string", "description": "409: the campaign's status"},
    },
    # Other extensions a problem may carry (readiness ``checks``).
    "additionalProperties": True,
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that may refuse with these statuses."""
    return {
        status: {
            "description": _PROBLEM_DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


class Problem(Exception):
    """A refusal with an HTTP status and a reason a person can read."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail or title
        self.headers = headers
        self.extensions = extensions


def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"{what} not found")


def conflict(detail: str, **extensions: Any) -> Problem:
    return Problem(409, "Conflict", detail, **extensions)


def unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def unavailable(detail: str, **extensions: Any) -> Problem:
    """A 503 that says when to ask again (``Retry-After``)."""
    return Problem(
        503,
        "Service unavailable",
        detail,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        **extensions,
    )


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def _problem_handler(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Problem)
    return problem_response(
        request, error.status, error.title, error.detail, error.headers, **error.extensions
    )


async def _validation_handler(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors, detail = explain(error.errors(), error.body)
    return problem_response(request, 422, "Invalid request", detail, errors=errors)


async def _http_handler(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    headers = dict(error.headers) if error.headers else None
    return problem_response(
        request, error.status_code, _title(error.status_code), str(error.detail), headers
    )


async def _pool_timeout_handler(request: Request, error: Exception) -> JSONResponse:
    # Every pooled connection is in use and none came back within the pool's (short) timeout.
    log.warning("database pool exhausted", path=request.url.path, error=str(error))
    return _unavailable_response(request, "the database is busy: no connection is free")


async def _database_down_handler(request: Request, error: Exception) -> JSONResponse:
    # The database refused or dropped the connection (restarting, unreachable, locked).
    assert isinstance(error, OperationalError)
    log.warning("database unavailable", path=request.url.path, error=str(error.orig))
    return _unavailable_response(request, "the database is unavailable")


def _unavailable_response(request: Request, detail: str) -> JSONResponse:
    problem = unavailable(detail)
    return problem_response(request, 503, problem.title, problem.detail, problem.headers)


async def _unexpected_handler(request: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error", path=request.url.path)
    return problem_response(request, 500, "Internal error", "an unexpected error; it was logged")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _problem_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(PoolTimeoutError, _pool_timeout_handler)
    app.add_exception_handler(OperationalError, _database_down_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
