"""Helpers for tests: workers on fresh task queues, waiting on conditions, serving ASGI apps."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar, overload

import uvicorn
from temporalio.client import Client
from temporalio.worker import Worker

T = TypeVar("T")


def new_worker(
    client: Client,
    *workflows: type,
    activities: Sequence[Callable[..., Any]] = (),
    task_queue: str | None = None,
    **kwargs: Any,
) -> Worker:
    """A worker on its own task queue (a fresh uuid unless given)."""
    return Worker(
        client,
        task_queue=task_queue or f"tq-{uuid.uuid4()}",
        workflows=list(workflows),
        activities=list(activities),
        **kwargs,
    )


@overload
async def assert_eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = ..., interval: float = ...
) -> T: ...


@overload
async def assert_eventually(
    check: Callable[[], T], *, timeout: float = ..., interval: float = ...
) -> T: ...


async def assert_eventually(
    check: Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
) -> Any:
    """Call ``check`` (sync or async) until it stops raising AssertionError, then return its
    value; re-raise the last AssertionError once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            return result
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, *, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve an ASGI app on a real, free loopback port; yields its base URL."""
    config = uvicorn.Config(
        app, host=host, port=0, log_level="warning", lifespan="on", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await assert_eventually(lambda: _assert_started(server), timeout=20)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)


def _assert_started(server: uvicorn.Server) -> None:
    assert server.started and server.servers, "server not started yet"
