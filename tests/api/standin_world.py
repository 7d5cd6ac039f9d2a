"""The API tests' world: the real campaign-row activities, and the workflow tests' stand-ins
(tests/workflows/standins.py) for X and the ledger, with one ``StandInWorld`` per campaign so
campaigns in one test module never share posts, locks or refunds.

Beyond what ``StandInWorld`` offers, per campaign: the top-up locks the ledger saw (each can be
held open or refused), and a first post that fails retryably until the outage is lifted.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import payloads as p
from activities.campaign import CampaignActivities
from core.db import SessionFactory
from tests.workflows.standins import StandInWorld, make_world


def activity_name(fn: Callable[..., Any]) -> str:
    name = activity._Definition.must_from_callable(fn).name
    assert name is not None
    return name


class ApiWorld:
    def __init__(self, sessions: SessionFactory) -> None:
        self._rows = CampaignActivities(sessions)
        self._worlds: dict[str, StandInWorld] = {}
        self._standins: dict[str, dict[str, Callable[..., Any]]] = {}
        self.top_up_locks: defaultdict[str, list[p.TopUpLockRequest]] = defaultdict(list)
        # Set: top-up locks of that campaign wait for the event.
        self.lock_gates: dict[str, asyncio.Event] = {}
        # Set: top-up locks of that campaign are refused with this reason (not retryable).
        self.lock_refusals: dict[str, str] = {}
        # Set: the campaign's first post fails with this reason (retryable) until removed.
        self.first_post_outages: dict[str, str] = {}

    def world(self, campaign_id: str) -> StandInWorld:
        if campaign_id not in self._worlds:
            world = make_world()
            self._worlds[campaign_id] = world
            self._standins[campaign_id] = {activity_name(f): f for f in world.activities()}
        return self._worlds[campaign_id]

    def activities(self) -> list[Callable[..., Any]]:
        own: list[Callable[..., Any]] = [
            self._rows.load_campaign,
            self._rows.record_transition,
            self.lock_top_up,
            self.publish_first_post,
        ]
        taken = {activity_name(fn) for fn in own}
        standins = [fn for fn in make_world().activities() if activity_name(fn) not in taken]
        return own + [self._dispatcher(fn) for fn in standins]

    async def _call(self, name: str, request: Any) -> Any:
        self.world(request.campaign_id)
        return await self._standins[request.campaign_id][name](request)

    def _dispatcher(self, standin: Callable[..., Any]) -> Callable[..., Any]:
        """An activity under the stand-in's name and types that runs the campaign's own one."""
        definition = activity._Definition.must_from_callable(standin)
        name = activity_name(standin)
        assert definition.arg_types is not None and len(definition.arg_types) == 1, name

        async def dispatch(request: Any) -> Any:
            return await self._call(name, request)

        # The worker decodes arguments by these hints: the stand-in's own types.
        dispatch.__annotations__ = {
            "request": definition.arg_types[0],
            "return": definition.ret_type,
        }
        return activity.defn(name=name)(dispatch)

    @activity.defn(name=p.LOCK_TOP_UP)
    async def lock_top_up(self, request: p.TopUpLockRequest) -> p.EscrowLocked:
        self.top_up_locks[request.campaign_id].append(request)
        gate = self.lock_gates.get(request.campaign_id)
        if gate is not None:
            await gate.wait()
        refusal = self.lock_refusals.get(request.campaign_id)
        if refusal is not None:
            raise ApplicationError(refusal, type="InsufficientFunds", non_retryable=True)
        locked: p.EscrowLocked = await self._call(p.LOCK_TOP_UP, request)
        return locked

    @activity.defn(name=p.PUBLISH_FIRST_POST)
    async def publish_first_post(self, request: p.PublishRequest) -> p.PublishedPost:
        outage = self.first_post_outages.get(request.campaign_id)
        if outage is not None:
            raise ApplicationError(outage, type="XUnavailable")
        posted: p.PublishedPost = await self._call(p.PUBLISH_FIRST_POST, request)
        return posted
