"""Awaiting a step to its end whatever Temporal's cancellation: settling and undoing must not
be cut short by a cancel from the Web UI or ``temporal workflow cancel``.

Temporal delivers a workflow's cancellation as ``CancelledError`` at whatever the run awaits.
The step is shielded, so it goes on; the caller hears of the cancel through ``on_cancel``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow

T = TypeVar("T")


async def to_the_end(
    awaitable: Awaitable[T], *, patch: str, on_cancel: Callable[[], Awaitable[None]]
) -> T:
    """``awaitable``'s result. Runs that began before ``patch`` was shipped are cancelled at
    once, as they were then, so their histories replay."""
    task = asyncio.ensure_future(awaitable)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() or not workflow.patched(patch):
                task.cancel()
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # taken: later waits must not see it again
            await on_cancel()
