"""The live-update hub: one status loop per campaign, shared by all of its subscribers.

The first subscriber of a campaign starts its poller task; the last one to leave stops it.
The poller asks for the status document every ``interval`` seconds (a query is cheap and
bounded; no subscriber holds a long poll on the workflow's result), publishes it when it
changed, and stops after a terminal status. Slow subscribers skip to the latest document.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import FrameType
from typing import Any

import structlog

from api.problems import Problem
from api.schemas import StatusDocumentPublic
from core.contracts import CampaignStatus

FetchStatus = Callable[[str], Awaitable[StatusDocumentPublic]]

log = structlog.get_logger(__name__)

# The WebSocket close code for "the server is going away" (RFC 6455): a client reconnects
# elsewhere or later, unlike 1000 (the campaign ended) or uvicorn's own 1012.
CLOSE_GOING_AWAY = 1001
SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def is_terminal(document: StatusDocumentPublic) -> bool:
    try:
        return CampaignStatus(document.status).is_terminal
    except ValueError:
        return False


class _Channel:
    def __init__(self) -> None:
        self.document: StatusDocumentPublic | None = None
        self.version = 0
        self.finished = False
        self.changed = asyncio.Condition()
        self.subscribers = 0
        self.task: asyncio.Task[None] | None = None

    async def publish(self, document: StatusDocumentPublic, *, finished: bool) -> None:
        async with self.changed:
            if document != self.document:
                self.document = document
                self.version += 1
            self.finished = finished
            self.changed.notify_all()


class Subscription:
    def __init__(self, channel: _Channel) -> None:
        self._channel = channel
        self._seen = 0

    async def next(self) -> StatusDocumentPublic | None:
        """The next document this subscriber has not seen; None once the campaign ended and
        the subscriber has seen its last document."""
        channel = self._channel
        async with channel.changed:
            await channel.changed.wait_for(lambda: channel.version > self._seen or channel.finished)
            if channel.version > self._seen:
                self._seen = channel.version
                return channel.document
            return None


class LiveHub:
    def __init__(self, fetch: FetchStatus, *, interval: float = 1.0) -> None:
        self._fetch = fetch
        self._interval = interval
        self._channels: dict[str, _Channel] = {}
        self.fetches: Counter[str] = Counter()
        # Set when the server shuts down: every subscriber closes with 1001 and leaves.
        self.going_away = asyncio.Event()
        self._connections = 0
        self._left = asyncio.Condition()
        self._shutdown_tasks: set[asyncio.Task[None]] = set()

    def pollers(self) -> dict[str, int]:
        """Campaigns with a running poller, and how many subscribers each has."""
        return {
            campaign_id: channel.subscribers
            for campaign_id, channel in self._channels.items()
            if channel.task is not None and not channel.task.done()
        }

    @contextlib.asynccontextmanager
    async def subscribe(self, campaign_id: str) -> AsyncIterator[Subscription]:
        channel = self._channels.get(campaign_id)
        if channel is None:
            channel = _Channel()
            self._channels[campaign_id] = channel
            channel.task = asyncio.create_task(
                self._poll(campaign_id, channel), name=f"live-{campaign_id}"
            )
        channel.subscribers += 1
        try:
            yield Subscription(channel)
        finally:
            channel.subscribers -= 1
            if channel.subscribers == 0:
                self._channels.pop(campaign_id, None)
                await _stop(channel.task)

    @property
    def open_sockets(self) -> int:
        return self._connections

    @contextlib.contextmanager
    def connection(self) -> Iterator[None]:
        """Count an open live socket, so ``go_away`` can wait until every one has closed."""
        self._connections += 1
        try:
            yield
        finally:
            self._connections -= 1
            self.keep(asyncio.get_running_loop().create_task(self._notify_left()))

    def keep(self, task: asyncio.Task[None]) -> None:
        """Hold a reference to a fire-and-forget task until it is done."""
        self._shutdown_tasks.add(task)
        task.add_done_callback(self._shutdown_tasks.discard)

    async def _notify_left(self) -> None:
        async with self._left:
            self._left.notify_all()

    async def go_away(self, *, timeout: float = 5.0) -> int:
        """Ask every live socket to close with 1001 and wait (up to ``timeout``) until they
        have; returns how many were open."""
        open_now = self._connections
        self.going_away.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._left:
                await self._left.wait_for(lambda: self._connections == 0)
        return open_now

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await _stop(channel.task)

    async def _poll(self, campaign_id: str, channel: _Channel) -> None:
        while True:
            self.fetches[campaign_id] += 1
            try:
                document = await self._fetch(campaign_id)
            except Problem as problem:
                # Temporal or the worker briefly away: keep the last document and try again.
                log.warning(
                    "live status unavailable", campaign_id=campaign_id, detail=problem.detail
                )
            except Exception:
                log.exception("live status failed", campaign_id=campaign_id)
            else:
                finished = is_terminal(document)
                await channel.publish(document, finished=finished)
                if finished:
                    return
            await asyncio.sleep(self._interval)


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.contextmanager
def going_away_on_signals(hub: LiveHub) -> Iterator[None]:
    """Close the live sockets with 1001 before the server's own shutdown begins.

    uvicorn takes SIGINT/SIGTERM itself and, once it shuts down, closes every WebSocket still
    open with 1012; so the signal is caught first, the sockets are closed with 1001, and only
    then is uvicorn's handler called. Outside the main thread (no signals) it does nothing.
    """
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def pass_on(sig: int, frame: FrameType | None) -> None:
        handler = previous.get(sig)
        if callable(handler):
            handler(sig, frame)
        else:  # no Python handler before ours: the signal's default action
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    async def close_sockets_then(sig: int, frame: FrameType | None) -> None:
        log.info("api shutting down", live_sockets=hub.open_sockets)
        closed = await hub.go_away()
        log.info("live sockets closed", code=CLOSE_GOING_AWAY, sockets=closed)
        pass_on(sig, frame)

    def on_signal(sig: int, frame: FrameType | None) -> None:
        if hub.going_away.is_set():  # a second signal: straight to uvicorn (force quit)
            pass_on(sig, frame)
            return

        def start_closing() -> None:
            hub.keep(loop.create_task(close_sockets_then(sig, frame)))

        loop.call_soon_threadsafe(start_closing)

    try:
        for number in SHUTDOWN_SIGNALS:
            previous[number] = signal.signal(number, on_signal)
    except ValueError:  # not the main thread
        previous.clear()
    try:
        yield
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)
