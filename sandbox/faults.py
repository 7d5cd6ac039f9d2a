"""Faults in front of the X and ledger APIs: latency, errors, rate limits, lost responses.

A raw ASGI middleware, so a "lost response" can let the route commit its effect and then
throw the answer away: the client sees a 503 or a connection cut mid-body, the case that makes
naive retries pay twice. ``/sandbox`` routes are never faulted.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.problems import ProblemError, ledger_problem, rate_limited, x_unavailable
from sandbox.state import SandboxState

UNLIMITED = 1_000_000
DEFAULT_WINDOW_S = 900


def api_of(path: str) -> str | None:
    if path.startswith("/2/"):
        return "x"
    if path.startswith("/ledger/") or path == "/ledger":
        return "ledger"
    return None


class FaultMiddleware:
    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = api_of(scope["path"]) if scope["type"] == "http" else None
        if api is None:
            await self.app(scope, receive, send)
            return
        faults = self.state.faults
        faulted = faults.target in ("all", api)
        headers = self._rate_headers(faulted)
        if faulted and faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faulted and headers["x-rate-limit-remaining"] == "-1":
            headers["x-rate-limit-remaining"] = "0"
            await _send_response(send, rate_limited().response(headers))
            return
        if faulted and self.state.rng.random() < faults.error_rate:
            await _send_response(send, _unavailable(api).response(headers))
            return
        if faulted and self.state.rng.random() < faults.lose_response_rate:
            await self._lose_response(scope, receive, send)
            return
        await self.app(scope, receive, _with_headers(send, headers))

    def _rate_headers(self, faulted: bool) -> dict[str, str]:
        """X's ``x-rate-limit-*`` headers (the ledger gets them too); remaining is ``-1`` when
        this request is refused."""
        now = time.time()
        limit = self.state.faults.rate_limit if faulted else None
        if limit is None:
            reset = math.ceil(now + DEFAULT_WINDOW_S)
            return _headers(UNLIMITED, UNLIMITED, reset)
        window = self.state.window
        if window.started_at == 0.0 or now >= window.started_at + limit.window_s:
            window.started_at, window.used = now, 0
        reset = math.ceil(window.started_at + limit.window_s)
        if window.used >= limit.limit:
            return _headers(limit.limit, -1, reset)
        window.used += 1
        return _headers(limit.limit, limit.limit - window.used, reset)

    async def _lose_response(self, scope: Scope, receive: Receive, send: Send) -> None:
        messages: list[Message] = []

        async def swallow(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, swallow)  # the effect is committed here
        started = [m for m in messages if m["type"] == "http.response.start"]
        if not started or self.state.rng.random() < 0.5:
            await _send_response(send, _unavailable(scope["path"]).response())
            return
        # Declare a longer body than we send: the client sees the connection end mid-response.
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        start = started[0]
        raw = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        raw.append((b"content-length", str(len(body) + 64).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": raw})
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        # Returning now, response unfinished, makes the server close the connection.


def _unavailable(api_or_path: str) -> ProblemError:
    if api_or_path == "x" or api_or_path.startswith("/2/"):
        return x_unavailable()
    return ledger_problem(503, "unavailable", "The ledger is unavailable; retry with the same key.")


def _headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(reset),
    }


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    if not headers:
        return send

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            extra = [(k.encode(), v.encode()) for k, v in headers.items()]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sender


async def _send_response(send: Send, response: Any) -> None:
    body: bytes = response.body
    raw = [(k.encode(), v.encode()) for k, v in response.headers.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": raw})
    await send({"type": "http.response.body", "body": body})
