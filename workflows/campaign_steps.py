"""The campaign's steps: one activity (or the distribution child) each, with its timeout and
named retry policy, so a reader sees how hard each step tries before the campaign gives up.

Plain functions that return the awaitable; ``CampaignWorkflow`` awaits them so that a
cancellation through Temporal never cuts a step short.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.payloads import (
        BUILD_REWARD_TABLE,
        CLOSE_ESCROW,
        DELETE_POSTS,
        DISTRIBUTION_WORKFLOW_NAME,
        LOAD_CAMPAIGN,
        LOCK_ESCROW,
        LOCK_TOP_UP,
        POLL_ENGAGEMENT,
        PUBLISH_FIRST_POST,
        PUBLISH_SECOND_POST,
        RECORD_TRANSITION,
        REFUND_ESCROW,
        RELEASE_ESCROW,
        CampaignDefinition,
        CampaignRef,
        DeletedPosts,
        EscrowClosed,
        EscrowLocked,
        EscrowReleased,
        EscrowRequest,
        LockRequest,
        PollRequest,
        PollResult,
        PublishedPost,
        PublishRequest,
        Refunded,
        TopUpLockRequest,
        TransitionRecord,
    )
    from core.contracts import (
        DistributionInput,
        DistributionResult,
        RewardTableRequest,
        RewardTableResult,
        distribution_workflow_id_for,
    )
    from workflows import retry

T = TypeVar("T")


def _activity(
    name: str,
    arg: Any,
    result_type: type[T],
    *,
    summary: str,
    timeout: timedelta,
    policy: RetryPolicy,
    heartbeat: timedelta | None = None,
) -> Awaitable[T]:
    return workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timeout,
        heartbeat_timeout=heartbeat,
        retry_policy=policy,
        summary=summary,
    )


def load_campaign(campaign_id: str) -> Awaitable[CampaignDefinition]:
    return _activity(
        LOAD_CAMPAIGN,
        CampaignRef(campaign_id),
        CampaignDefinition,
        summary="load the campaign definition",
        timeout=retry.DATABASE_TIMEOUT,
        policy=retry.DATABASE,
    )


def record_transition(record: TransitionRecord) -> Awaitable[None]:
    return _activity(
        RECORD_TRANSITION,
        record,
        type(None),
        summary=f"timeline #{record.seq}: {record.kind} ({record.status})",
        timeout=retry.DATABASE_TIMEOUT,
        policy=retry.DATABASE,
    )


def publish_first_post(campaign_id: str, media: int) -> Awaitable[PublishedPost]:
    return _activity(
        PUBLISH_FIRST_POST,
        PublishRequest(campaign_id),
        PublishedPost,
        summary=f"first post ({media} media)" if media else "first post",
        timeout=retry.MEDIA_POST_TIMEOUT if media else retry.POST_TIMEOUT,
        heartbeat=retry.MEDIA_HEARTBEAT_TIMEOUT if media else None,
        policy=retry.EXTERNAL_WRITE,
    )


def lock_escrow(campaign_id: str, amount: int, asset: str) -> Awaitable[EscrowLocked]:
    return _activity(
        LOCK_ESCROW,
        LockRequest(campaign_id, amount=amount),
        EscrowLocked,
        summary=f"lock {amount} {asset} in escrow",
        timeout=retry.LEDGER_TIMEOUT,
        policy=retry.EXTERNAL_WRITE,
    )


def publish_second_post(campaign_id: str, first_post_id: str) -> Awaitable[PublishedPost]:
    return _activity(
        PUBLISH_SECOND_POST,
        PublishRequest(campaign_id, reply_to=first_post_id),
        PublishedPost,
        summary="second post (the terms), replying to the first",
        timeout=retry.POST_TIMEOUT,
        policy=retry.EXTERNAL_WRITE,
    )


def lock_top_up(campaign_id: str, escrow_id: str, amount: int, key: str) -> Awaitable[EscrowLocked]:
    return _activity(
        LOCK_TOP_UP,
        TopUpLockRequest(campaign_id, escrow_id, amount, key=key),
        EscrowLocked,
        summary=f"top-up {key}: lock {amount} more",
        timeout=retry.LEDGER_TIMEOUT,
        policy=retry.EXTERNAL_WRITE,
    )


def poll_engagement(
    campaign_id: str, first_post_id: str, budget: int, *, final: bool
) -> Awaitable[PollResult]:
    return _activity(
        POLL_ENGAGEMENT,
        PollRequest(campaign_id, first_post_id, budget=budget, final=final),
        PollResult,
        summary="final engagement fetch" if final else "poll engagement",
        timeout=retry.POLL_TIMEOUT,
        heartbeat=retry.POLL_HEARTBEAT_TIMEOUT,
        policy=retry.FINAL_READ if final else retry.EXTERNAL_READ,
    )


def build_reward_table(campaign_id: str, locked: int) -> Awaitable[RewardTableResult]:
    return _activity(
        BUILD_REWARD_TABLE,
        RewardTableRequest(campaign_id, budget=locked),
        RewardTableResult,
        summary=f"reward table for {locked} locked",
        timeout=retry.REWARD_TABLE_TIMEOUT,
        policy=retry.DATABASE,
        heartbeat=retry.REWARD_TABLE_HEARTBEAT_TIMEOUT,
    )


def distribute(
    campaign_id: str, escrow_id: str, recipients: int, parent_workflow_id: str
) -> Awaitable[DistributionResult]:
    return workflow.execute_child_workflow(
        DISTRIBUTION_WORKFLOW_NAME,
        DistributionInput(campaign_id, escrow_id, parent_workflow_id, recipients=recipients),
        id=distribution_workflow_id_for(campaign_id),
        result_type=DistributionResult,
        static_summary=f"pay {recipients} recipients of campaign {campaign_id}",
    )


def refund_escrow(campaign_id: str, escrow_id: str, policy: RetryPolicy) -> Awaitable[Refunded]:
    return _activity(
        REFUND_ESCROW,
        EscrowRequest(campaign_id, escrow_id),
        Refunded,
        summary="refund the unpaid budget to the owner",
        timeout=retry.LEDGER_TIMEOUT,
        policy=policy,
    )


def close_escrow(campaign_id: str, escrow_id: str, policy: RetryPolicy) -> Awaitable[EscrowClosed]:
    return _activity(
        CLOSE_ESCROW,
        EscrowRequest(campaign_id, escrow_id),
        EscrowClosed,
        summary="close the escrow",
        timeout=retry.LEDGER_TIMEOUT,
        policy=policy,
    )


def release_escrow(campaign_id: str) -> Awaitable[EscrowReleased]:
    return _activity(
        RELEASE_ESCROW,
        CampaignRef(campaign_id),
        EscrowReleased,
        summary="release the escrow the records name: refund the owner, close it",
        timeout=retry.LEDGER_TIMEOUT,
        policy=retry.COMPENSATION,
    )


def delete_posts(campaign_id: str) -> Awaitable[DeletedPosts]:
    return _activity(
        DELETE_POSTS,
        CampaignRef(campaign_id),
        DeletedPosts,
        summary="delete the campaign's posts (looked up first where the outcome is unknown)",
        timeout=retry.POST_TIMEOUT,
        policy=retry.COMPENSATION,
    )
