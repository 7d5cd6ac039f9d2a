"""What crosses the boundary between the campaign workflow and its activities.

Plain dataclasses and activity names only (no I/O imports): the workflow imports this module,
and a workflow test registers stand-ins under the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.contracts import StatusDocument

LOAD_CAMPAIGN = "load_campaign"
RECORD_TRANSITION = "record_transition"
PUBLISH_FIRST_POST = "publish_first_post"
PUBLISH_SECOND_POST = "publish_second_post"
DELETE_POSTS = "delete_posts"
LOCK_ESCROW = "lock_escrow"
LOCK_TOP_UP = "lock_top_up"
REFUND_ESCROW = "refund_escrow"
CLOSE_ESCROW = "close_escrow"
# Compensation: refund and close whatever escrow the effect rows record (looked up at the
# ledger by its key when its outcome is unknown), whatever the workflow itself received.
RELEASE_ESCROW = "release_escrow"
POLL_ENGAGEMENT = "poll_engagement"
# Provided by activities.rewards.RewardActivities (the reward table, then the distribution).
BUILD_REWARD_TABLE = "build_reward_table"
DISTRIBUTION_WORKFLOW_NAME = "DistributionWorkflow"


@dataclass
class CampaignRef:
    campaign_id: str


@dataclass
class CampaignDefinition:
    """What the workflow needs to drive the campaign (texts and tokens stay in activities)."""

    campaign_id: str
    owner_id: str
    name: str
    type: str
    asset: str
    budget: int
    duration_seconds: int
    poll_interval_seconds: int
    media_count: int = 0


@dataclass
class TransitionRecord:
    """One timeline row (unique per campaign and seq) and the campaign row's status."""

    campaign_id: str
    seq: int
    kind: str
    status: str
    document: StatusDocument
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class PublishRequest:
    campaign_id: str
    reply_to: str | None = None


@dataclass
class PublishedPost:
    post_id: str


@dataclass
class DeletedPosts:
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


@dataclass
class LockRequest:
    campaign_id: str
    amount: int


@dataclass
class TopUpLockRequest:
    campaign_id: str
    escrow_id: str
    amount: int
    # Histories from before keys: top-up #number used <campaign>:top-up:<number>.
    number: int | None = None
    # The client's idempotency key: the effect and ledger key is <campaign>:top-up:<key>.
    key: str | None = None


@dataclass
class EscrowLocked:
    escrow_id: str
    locked: int  # what the escrow holds locked in total after this operation


@dataclass
class EscrowRequest:
    campaign_id: str
    escrow_id: str


@dataclass
class EscrowReleased:
    """What compensation found and undid; ``escrow_id`` None when no escrow was ever made."""

    escrow_id: str | None = None
    locked: int = 0
    paid: int = 0
    refunded: int = 0
    refund_amount: int = 0


@dataclass
class Refunded:
    refunded: int


@dataclass
class EscrowClosed:
    locked: int
    paid: int
    refunded: int


@dataclass
class PollRequest:
    campaign_id: str
    first_post_id: str
    budget: int
    final: bool = False


@dataclass
class PollResult:
    """Counts derived from the engagement rows, and what they earn so far. The final fetch
    leaves the earnings as None: the reward table built right after it works them out from
    the same rows, and counting them twice cost the close ~0.4 s at 20,000 engagers."""

    likes: int
    reposts: int
    replies: int
    quotes: int
    unique_engagers: int
    earned: int | None
    recipients: int | None
    ineligible: int | None
    exhausted: bool | None
    polled_at: datetime
