"""Faults in front of the X, ledger and chain APIs: latency, errors, rate limits, lost responses.

A raw ASGI middleware, so a "lost response" can let the route commit its effect and then
throw the answer away: the client sees a 503 or a connection cut mid-body, the case that makes
naive retries pay twice (on the chain: an ``eth_sendRawTransaction`` taken, its answer never
heard). ``/sandbox`` routes are never faulted.

The chain (``/evm``) answers an error as a node or the proxy in front of it would: half the
time an HTTP 503, half a JSON-RPC error object for each request in the body. X's rate limit
and its ``x-rate-limit-*`` headers are X's (and the ledger's), never the chain's.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.problems import ProblemError, ledger_problem, rate_limited, x_unavailable
from sandbox.state import SandboxState

UNLIMITED = 1_000_000
DEFAULT_WINDOW_S = 900
RPC_INTERNAL_ERROR = -32603


def api_of(path: str) -> str | None:
    if path.startswith("/2/"):
        return "x"
    if path.startswith("/ledger/") or path == "/ledger":
        return "ledger"
    if path == "/evm":
        return "evm"
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
        if api == "evm":
            await self._chain(faulted, scope, receive, send)
            return
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

    async def _chain(self, faulted: bool, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.state.faults
        if faulted and faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faulted and self.state.rng.random() < faults.error_rate:
            if self.state.rng.random() < 0.5:
                await _send_response(send, _unavailable("evm").response())
            else:
                await _send_json(send, _rpc_errors(await _body(receive)))
            return
        if faulted and self.state.rng.random() < faults.lose_response_rate:
            await self._lose_response(scope, receive, send)
            return
        await self.app(scope, receive, send)

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
    if api_or_path in ("evm", "/evm"):  # a proxy's 503 in front of the node
        return ProblemError(503, "about:blank", "Service Unavailable", "The node is unavailable.")
    return ledger_problem(503, "unavailable", "The ledger is unavailable; retry with the same key.")


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _rpc_errors(body: bytes) -> Any:
    """A node's "internal error" answer to each request of ``body`` (a batch gets a list)."""

    def error(call: Any) -> dict[str, Any]:
        request_id = call.get("id") if isinstance(call, dict) else None
        failure = {"code": RPC_INTERNAL_ERROR, "message": "internal error: the node is busy"}
        return {"jsonrpc": "2.0", "id": request_id, "error": failure}

    try:
        calls = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error(None)
    if isinstance(calls, list) and calls:
        return [error(call) for call in calls]
    return error(calls)


async def _send_json(send: Send, document: Any) -> None:
    body = json.dumps(document).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": raw})
    await send({"type": "http.response.body", "body": body})


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
