"""The worker's and the API's HTTP transport: httpx's own, on a network backend that keeps each
connection's socket at hand.

Before every request and after every response, httpcore's pool checks each idle keep-alive
connection for a server-side close by polling its socket. To find that socket it asks AnyIO
for the stream's attributes, and AnyIO builds them all afresh each time, calling
``getpeername`` on the way. In a busy worker that was 136,601 ``getpeername`` calls in one
300-campaign run (``bench/campaigns_bench.py --profile-dir``): ~20 % of the worker's event-loop
time went on checking the pool, and each of those system calls let a database thread take the
GIL. Here the socket is looked up once, when the connection opens, and the check is one
``poll`` of it, as before.
"""

from __future__ import annotations

import typing

import httpcore
import httpx
from httpcore import AsyncNetworkBackend, AsyncNetworkStream
from httpcore._backends.anyio import AnyIOBackend
from httpcore._backends.base import SOCKET_OPTION
from httpcore._utils import is_socket_readable

SOCKET_OPTIONS = typing.Iterable[SOCKET_OPTION]


class SocketKeepingStream(AsyncNetworkStream):
    """A connection's stream that answers ``is_readable`` from the socket it keeps."""

    def __init__(self, stream: AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncNetworkStream:
        tls = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return SocketKeepingStream(tls)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            return is_socket_readable(self._socket)
        if info == "socket":
            return self._socket
        return self._stream.get_extra_info(info)


class SocketKeepingBackend(AsyncNetworkBackend):
    """httpcore's AnyIO backend (the one it picks on asyncio), its streams keeping their socket."""

    def __init__(self) -> None:
        self._backend = AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: SOCKET_OPTIONS | None = None,
    ) -> AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return SocketKeepingStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: SOCKET_OPTIONS | None = None
    ) -> AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        return SocketKeepingStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def pooled_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport (its request and error mapping untouched) on a pool of
    ``SocketKeepingBackend`` connections."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    # httpx takes no network backend; its transport sends everything through this pool.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=SocketKeepingBackend(),
    )
    return transport
