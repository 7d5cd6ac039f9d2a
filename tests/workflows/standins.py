"""Stand-in activities for workflow tests: the same names as the real ones, an in-memory world.

They keep what the workflow asked for (posts, locks, refunds, timeline rows) so tests assert
what the world saw, and can be told to fail a step.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities import payloads as p
from core.contracts import (
    DistributionInput,
    DistributionProgress,
    RewardTableRequest,
    RewardTableResult,
)
from core.temporal import start_campaign_workflow
from tests.helpers import assert_eventually, new_worker
from tests.workflows.campaign_stack import status_of
from tests.workflows.standin_distribution import STANDIN_PAY_ALL, StandInDistributionWorkflow
from workflows.campaign import CampaignWorkflow


@dataclass
class StandInWorld:
    definition: p.CampaignDefinition
    # What every poll sees, and what the reward table pays (capped at what is locked).
    likes: int = 0
    earned: int = 0
    recipients: int = 0
    exhausted: bool = False
    fail_step: str | None = None
    posts: dict[str, str] = field(default_factory=dict)  # key -> post id
    deleted: list[str] = field(default_factory=list)
    locked: int = 0
    paid: int = 0
    refunded: int = 0
    escrow_closed: bool = False
    polls: int = 0
    timeline: dict[int, p.TransitionRecord] = field(default_factory=dict)
    # When set, the first post waits for it (to send messages while it is in flight).
    first_post_gate: asyncio.Event | None = None
    first_post_started: asyncio.Event = field(default_factory=asyncio.Event)
    # When set, paying waits for it (to send messages while distributing).
    pay_gate: asyncio.Event | None = None
    pay_started: asyncio.Event = field(default_factory=asyncio.Event)
    # Top-up keys the ledger has locked (once each), and a gate to hold a top-up's lock.
    top_up_keys: list[str] = field(default_factory=list)
    top_up_gate: asyncio.Event | None = None
    lock_gate: asyncio.Event | None = None
    load_gate: asyncio.Event | None = None
    lock_started: asyncio.Event = field(default_factory=asyncio.Event)
    # Polls fail with this error type while set (e.g. "ReadRefused" for a 401).
    poll_error: str | None = None

    def kinds(self) -> list[str]:
        return [self.timeline[seq].kind for seq in sorted(self.timeline)]

    def _maybe_fail(self, step: str) -> None:
        if self.fail_step == step:
            raise ApplicationError(f"{step} refused", type="PermanentError", non_retryable=True)

    def activities(self) -> list[Callable[..., Any]]:
        world = self

        @activity.defn(name=p.LOAD_CAMPAIGN)
        async def load_campaign(ref: p.CampaignRef) -> p.CampaignDefinition:
            if world.load_gate is not None:
                await world.load_gate.wait()
            return world.definition

        @activity.defn(name=p.RECORD_TRANSITION)
        async def record_transition(record: p.TransitionRecord) -> None:
            world.timeline[record.seq] = record

        @activity.defn(name=p.PUBLISH_FIRST_POST)
        async def publish_first_post(request: p.PublishRequest) -> p.PublishedPost:
            world.first_post_started.set()
            if world.first_post_gate is not None:
                await world.first_post_gate.wait()
            world._maybe_fail("first_post")
            post_id = world.posts.setdefault("first", "post-1")
            return p.PublishedPost(post_id)

        @activity.defn(name=p.PUBLISH_SECOND_POST)
        async def publish_second_post(request: p.PublishRequest) -> p.PublishedPost:
            world._maybe_fail("second_post")
            assert request.reply_to == world.posts["first"]
            return p.PublishedPost(world.posts.setdefault("second", "post-2"))

        @activity.defn(name=p.DELETE_POSTS)
        async def delete_posts(ref: p.CampaignRef) -> p.DeletedPosts:
            world.deleted = sorted(world.posts.values())
            return p.DeletedPosts(deleted=world.deleted)

        @activity.defn(name=p.LOCK_ESCROW)
        async def lock_escrow(request: p.LockRequest) -> p.EscrowLocked:
            world.lock_started.set()
            if world.lock_gate is not None:
                await world.lock_gate.wait()
            world._maybe_fail("lock")
            world.locked = request.amount
            # The ledger committed the lock; then the activity failed (its answer lost).
            world._maybe_fail("lock_after_commit")
            return p.EscrowLocked("escrow-1", world.locked)

        @activity.defn(name=p.LOCK_TOP_UP)
        async def lock_top_up(request: p.TopUpLockRequest) -> p.EscrowLocked:
            # Keyed like the ledger: a repeated key is answered, not locked again.
            key = request.key or str(request.number)
            if key not in world.top_up_keys:
                world.top_up_keys.append(key)
                world.locked += request.amount
            if world.top_up_gate is not None:
                await world.top_up_gate.wait()
            return p.EscrowLocked(request.escrow_id, world.locked)

        @activity.defn(name=p.RELEASE_ESCROW)
        async def release_escrow(ref: p.CampaignRef) -> p.EscrowReleased:
            # Works from what the ledger holds, not from what the workflow was told.
            if world.locked == 0:
                return p.EscrowReleased()
            refund = world.locked - world.paid - world.refunded
            world.refunded += refund
            world.escrow_closed = True
            return p.EscrowReleased(
                "escrow-1", world.locked, world.paid, world.refunded, refund_amount=refund
            )

        @activity.defn(name=p.POLL_ENGAGEMENT)
        async def poll_engagement(request: p.PollRequest) -> p.PollResult:
            if world.poll_error is not None:
                raise ApplicationError(
                    "X refused to read engagement: 401 Unauthorized",
                    type=world.poll_error,
                    non_retryable=True,
                )
            world.polls += 1
            return p.PollResult(
                likes=world.likes,
                reposts=0,
                replies=0,
                quotes=0,
                unique_engagers=world.likes,
                earned=min(world.earned, request.budget),
                recipients=world.recipients,
                ineligible=0,
                exhausted=world.exhausted,
                polled_at=datetime.now(UTC),
            )

        @activity.defn(name=p.BUILD_REWARD_TABLE)
        async def build_reward_table(request: RewardTableRequest) -> RewardTableResult:
            world._maybe_fail("reward_table")
            return RewardTableResult(
                earned=min(world.earned, request.budget), recipients=world.recipients, ineligible=0
            )

        @activity.defn(name=STANDIN_PAY_ALL)
        async def pay_all(input: DistributionInput) -> DistributionProgress:
            world.pay_started.set()
            if world.pay_gate is not None:
                await world.pay_gate.wait()
            world._maybe_fail("distribution")
            world.paid = min(world.earned, world.locked)
            return DistributionProgress(
                recipients=world.recipients, paid=world.recipients, paid_amount=world.paid
            )

        @activity.defn(name=p.REFUND_ESCROW)
        async def refund_escrow(request: p.EscrowRequest) -> p.Refunded:
            refund = world.locked - world.paid - world.refunded
            world.refunded += refund
            return p.Refunded(refund)

        @activity.defn(name=p.CLOSE_ESCROW)
        async def close_escrow(request: p.EscrowRequest) -> p.EscrowClosed:
            world.escrow_closed = True
            return p.EscrowClosed(locked=world.locked, paid=world.paid, refunded=world.refunded)

        return [
            load_campaign,
            record_transition,
            publish_first_post,
            publish_second_post,
            delete_posts,
            lock_escrow,
            lock_top_up,
            release_escrow,
            poll_engagement,
            build_reward_table,
            pay_all,
            refund_escrow,
            close_escrow,
        ]


def make_world(**overrides: Any) -> StandInWorld:
    definition = p.CampaignDefinition(
        campaign_id=uuid.uuid4().hex,
        owner_id="owner-1",
        name="Launch week",
        type="awareness",
        asset="native",
        budget=1_000,
        duration_seconds=3_600,
        poll_interval_seconds=300,
    )
    return StandInWorld(definition=definition, **overrides)


def standin_worker(client: Client, world: StandInWorld) -> Worker:
    return new_worker(
        client,
        CampaignWorkflow,
        StandInDistributionWorkflow,
        activities=world.activities(),
    )


async def start(
    client: Client, world: StandInWorld, worker: Worker, start_at: datetime | None = None
) -> WorkflowHandle[Any, Any]:
    d = world.definition
    return await start_campaign_workflow(
        client,
        campaign_id=d.campaign_id,
        owner_id=d.owner_id,
        campaign_type=d.type,
        name=d.name,
        task_queue=worker.task_queue,
        start_at=start_at,
    )


async def wait_for_status(handle: WorkflowHandle[Any, Any], status: str) -> None:
    async def reached() -> bool:
        assert (await status_of(handle)).status == status
        return True

    reached_it: bool = await assert_eventually(reached, timeout=20)
    assert reached_it


async def wait_for_timeline(world: StandInWorld, kind: str) -> None:
    def recorded() -> bool:
        assert kind in world.kinds()
        return True

    recorded_it: bool = await assert_eventually(recorded, timeout=20)
    assert recorded_it
