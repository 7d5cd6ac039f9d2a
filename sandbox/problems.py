"""Error bodies the sandbox answers with, in the shapes X (and our ledger) use.

X answers most errors as RFC 7807 problems (``application/problem+json``) whose ``type`` is one
of the URIs in X's OpenAPI description; a few (401, 429) still come in the legacy
``{code, message}`` / ``errors[]`` shape. Both are served so clients learn to read both.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

X_PROBLEM = "https://api.x.com/2/problems/"
LEDGER_PROBLEM = "https://ledger.sandbox/problems/"
PROBLEM_JSON = "application/problem+json"

DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."


class SandboxHttpError(Exception):
    """Raised inside a route; the app answers with ``response()``."""

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        raise NotImplementedError


class ProblemError(SandboxHttpError):
    """An RFC 7807 problem."""

    def __init__(self, status: int, type: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.extra = extra

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        body = {"type": self.type, "title": self.title, "detail": self.detail}
        body["status"] = self.status  # type: ignore[assignment]
        body.update(self.extra)
        return JSONResponse(body, status_code=self.status, media_type=PROBLEM_JSON, headers=headers)


def x_invalid_request(detail: str, *, parameter: str | None = None) -> ProblemError:
    extra = {"parameter": parameter} if parameter else {}
    return ProblemError(400, X_PROBLEM + "invalid-request", "Invalid Request", detail, **extra)


def x_not_found(resource_type: str, resource_id: str, parameter: str = "id") -> ProblemError:
    return ProblemError(
        404,
        X_PROBLEM + "resource-not-found",
        "Not Found Error",
        f"Could not find {resource_type} with {parameter}: [{resource_id}].",
        resource_type=resource_type,
        resource_id=resource_id,
        parameter=parameter,
        value=resource_id,
    )


def x_duplicate_content() -> ProblemError:
    # Like X: a 403 that does not name the post that already carries this text.
    return ProblemError(403, X_PROBLEM + "disallowed-resource", "Forbidden", DUPLICATE_DETAIL)


def x_forbidden(detail: str, resource_type: str, resource_id: str) -> ProblemError:
    return ProblemError(
        403,
        X_PROBLEM + "not-authorized-for-resource",
        "Forbidden",
        detail,
        resource_type=resource_type,
        resource_id=resource_id,
    )


def x_unavailable(status: int = 503) -> ProblemError:
    return ProblemError(
        status, X_PROBLEM + "internal-error", "Service Unavailable", "Service unavailable."
    )


class LegacyError(SandboxHttpError):
    """X's older error shape: ``{code, message}`` with the ``errors[]`` list beside it."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        error = {"code": self.code, "message": self.message}
        body = {**error, "errors": [error]}
        return JSONResponse(body, status_code=self.status, headers=headers)


def unauthorized() -> LegacyError:
    return LegacyError(401, 89, "Invalid or expired token.")


def rate_limited() -> LegacyError:
    return LegacyError(429, 88, "Rate limit exceeded")


def ledger_problem(status: int, kind: str, detail: str, **extra: Any) -> ProblemError:
    title = kind.replace("-", " ").capitalize()
    return ProblemError(status, LEDGER_PROBLEM + kind, title, detail, **extra)
