"""The live-update hub: one status loop per campaign, shared by all of its subscribers.

The first subscriber of a campaign starts its poller task; the last one to leave stops it.
The poller asks for the status document every ``interval`` seconds (a query is cheap and
bounded; no subscriber holds a long poll on the workflow's result), publishes it when it
changed, and stops after a terminal status. Slow subscribers skip to the latest document.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

from api.problems import Problem
from api.schemas import StatusDocumentPublic
from core.contracts import CampaignStatus

FetchStatus = Callable[[str], Awaitable[StatusDocumentPublic]]

log = structlog.get_logger(__name__)


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
