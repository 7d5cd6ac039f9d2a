"""The servers the stack runs (API, sandbox) must not be the side that closes an idle
keep-alive connection first.

A client reuses a pooled connection until its own idle expiry (httpx's default 5 s; the
worker's shared client 30 s). uvicorn's default keep-alive is also 5 s: a request sent as the
server closes the connection dies as a ``ReadError`` or "server disconnected", which a client
cannot tell from a crash mid-request (seen once in 1,000 ``/status`` calls of
bench/api_bench.py under load). So the servers keep an idle connection longer than any client
of ours keeps one, and the client always closes first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from cli.preflight import Endpoint
from cli.stack import asgi_server_options
from clients.http import DEFAULT_LIMITS
from core.config import Settings
from tests.helpers import assert_eventually

# httpx's own default, which the CLI's client, scripts and the benches use.
HTTPX_DEFAULT_EXPIRY = httpx.Limits().keepalive_expiry or 5.0


def stack_options() -> dict[str, Any]:
    return asgi_server_options(Endpoint("127.0.0.1", 0, "CAMPAIGNS_API_PORT"), Settings())


def small_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"answer": "pong"}

    return app


@contextlib.asynccontextmanager
async def served_as_the_stack_serves(app: FastAPI) -> AsyncIterator[int]:
    """``app`` under the uvicorn config ``campaigns api`` / ``campaigns sandbox`` use."""
    config = uvicorn.Config(lambda: app, **stack_options())
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await assert_eventually(lambda: _started(server), timeout=20)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)


def _started(server: uvicorn.Server) -> None:
    assert server.started and server.servers, "server not started yet"


async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"GET /ping HTTP/1.1\r\nhost: test\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    assert head.startswith(b"HTTP/1.1 200"), head
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return await asyncio.wait_for(reader.readexactly(length), timeout=10)


def test_the_servers_keep_an_idle_connection_longer_than_any_client_of_ours() -> None:
    config = uvicorn.Config(small_app, **stack_options())
    assert DEFAULT_LIMITS.keepalive_expiry is not None
    longest_client_expiry = max(DEFAULT_LIMITS.keepalive_expiry, HTTPX_DEFAULT_EXPIRY)
    # A margin of whole seconds: a loaded event loop fires the server's timer late, and a
    # client's pool checks its expiry only when it next takes a connection.
    assert config.timeout_keep_alive >= longest_client_expiry + 10


async def test_a_connection_idle_past_httpx_default_expiry_still_answers() -> None:
    """The real server, a real socket: idle for longer than uvicorn's default keep-alive, the
    connection is still open (the server did not close it) and answers the next request."""
    async with served_as_the_stack_serves(small_app()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            assert await ask(reader, writer) == b'{"answer":"pong"}'
            # The deadline is the claim: the server must not close within it (EOF is b"").
            with pytest.raises(TimeoutError):
                closed = await asyncio.wait_for(reader.read(1), timeout=HTTPX_DEFAULT_EXPIRY + 1)
                pytest.fail(f"the server closed an idle connection (read {closed!r})")
            assert await ask(reader, writer) == b'{"answer":"pong"}'
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
