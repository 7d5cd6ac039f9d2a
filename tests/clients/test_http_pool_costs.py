"""What every outgoing request costs the worker beyond the request itself: httpcore asks which
event loop it runs on (``sniffio``) for each request; were sniffio missing, each ask would be a
failed import that searches every sys.path entry (measured: ~10 % of a busy worker's CPU). And
what the shared client's pool must keep doing for the activities: reuse a kept-alive connection,
and never send on one the server closed while it sat idle."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.machinery
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpcore._synchronization import current_async_library

from clients.http import make_http_client


async def test_httpcore_names_the_event_loop_without_searching_for_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    searched: list[str] = []
    find_spec = importlib.machinery.PathFinder.find_spec

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        searched.append(name)
        return find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counting)
    for _ in range(100):
        assert current_async_library() == "asyncio"
    assert searched == [], f"searched sys.path for {sorted(set(searched))}"


class KeepAliveServer:
    """A bare HTTP/1.1 server on loopback that answers every request with a small keep-alive
    response, counts the connections it accepted and, when told, closes each connection
    right after its next response (without saying so), as a server whose keep-alive timed out."""

    def __init__(self) -> None:
        self.connections = 0
        self.open = 0
        self.all_closed = asyncio.Event()
        self.close_after_response = False
        self.closed = asyncio.Event()
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.all_closed.clear()
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
                if self.close_after_response:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
        await writer.wait_closed()
        self.open -= 1
        self.closed.set()
        if self.open == 0:
            self.all_closed.set()


@contextlib.asynccontextmanager
async def keep_alive_server() -> AsyncIterator[KeepAliveServer]:
    served = KeepAliveServer()
    server = await asyncio.start_server(served.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    served.url = f"http://127.0.0.1:{port}/"
    async with server:
        yield served
        # The clients are gone: let each connection's handler see it and end.
        if served.connections:
            await asyncio.wait_for(served.all_closed.wait(), timeout=10)


async def test_requests_one_after_another_share_one_connection() -> None:
    async with keep_alive_server() as server, make_http_client() as http:
        for _ in range(20):
            assert (await http.get(server.url)).text == "ok"
    assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    async with keep_alive_server() as server, make_http_client() as http:
        server.close_after_response = True
        assert (await http.get(server.url)).text == "ok"
        await asyncio.wait_for(server.closed.wait(), timeout=10)
        server.close_after_response = False
        # The pool must see the close on the idle socket and open a new connection; reusing
        # the dead one would fail with "Server disconnected without sending a response".
        for _ in range(3):
            assert (await http.get(server.url)).text == "ok"
    assert server.connections == 2
