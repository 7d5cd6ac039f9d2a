"""The application's tables.

Unique constraints carry the exactly-once rules: one effect per business key, one engagement
per (campaign, user, kind), one engagement post per (campaign, post), one payout per
(campaign, recipient), one timeline row per (campaign, seq). Money is an integer in the asset's
smallest unit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.types import UTCDateTime, utcnow


def new_id() -> str:
    return uuid.uuid4().hex


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _money(default: int = 0) -> Any:
    return Field(default=default, sa_type=BigInteger, nullable=False)


class Owner(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    x_user_id: str = Field(max_length=64, index=True)
    # The owner's own X token; never returned by the API nor logged.
    x_access_token: str | None = Field(default=None, max_length=2000)
    wallet: str = Field(max_length=200)
    created_at: datetime = _created()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    owner_id: str = Field(foreign_key="owner.id", index=True, max_length=32)
    # sha256 of the key; the key itself is shown once and never stored.
    key_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = _created()
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Participant(SQLModel, table=True):
    x_user_id: str = Field(primary_key=True, max_length=64)
    wallet: str = Field(max_length=200)
    updated_at: datetime = _created()


class Campaign(SQLModel, table=True):
    __table_args__ = (
        Index("ix_campaign_created", "created_at", "id"),
        Index("ix_campaign_status_created", "status", "created_at", "id"),
        Index("ix_campaign_type_created", "type", "created_at", "id"),
        Index("ix_campaign_owner_created", "owner_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    owner_id: str = Field(foreign_key="owner.id", max_length=32)
    name: str = Field(max_length=200)
    type: str = Field(max_length=16)
    asset: str = Field(max_length=64)
    budget: int = _money()
    # The whole validated definition (core.campaign_spec.CampaignSpec as JSON).
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="draft", max_length=16)
    workflow_id: str | None = Field(default=None, max_length=64)
    run_id: str | None = Field(default=None, max_length=64)
    start_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The last status document the workflow recorded (the API's fallback once it is closed).
    last_status: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # When the last engagement poll that read every reply since the one before it began (the
    # worker's clock): the next poll asks X only for replies from a little before that on.
    replies_read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Effect(SQLModel, table=True):
    """An external effect under its business key: prepared, then sent, then done."""

    key: str = Field(primary_key=True, max_length=200)
    campaign_id: str = Field(foreign_key="campaign.id", index=True, max_length=32)
    kind: str = Field(max_length=32)
    # prepared | unknown | done | failed
    state: str = Field(default="prepared", max_length=16)
    request: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    attempts: int = Field(default=0)
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Engagement(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("campaign_id", "x_user_id", "kind", name="uq_engagement_user_kind"),
        Index("ix_engagement_campaign_seen", "campaign_id", "first_seen_at", "x_user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="campaign.id", max_length=32)
    x_user_id: str = Field(max_length=64)
    # like | repost | quote | reply
    kind: str = Field(max_length=16)
    # For quotes and replies: the post and its text (quests check the answer in it).
    post_id: str | None = Field(default=None, max_length=64)
    text: str | None = Field(default=None)
    first_seen_at: datetime = _created()


class EngagementPost(SQLModel, table=True):
    """Every reply and quote post a poll has seen, one row per post.

    ``Engagement`` keeps one row per (user, kind) for awareness rewards and the counters; a
    quest needs every post, since a user's second reply may be the one with the answer, and
    orders them by when X says they were made, not by when a poll happened to see them.
    """

    __tablename__ = "engagement_post"
    __table_args__ = (UniqueConstraint("campaign_id", "post_id", name="uq_engagement_post"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="campaign.id", max_length=32)
    post_id: str = Field(max_length=64)
    x_user_id: str = Field(max_length=64)
    # quote | reply
    kind: str = Field(max_length=16)
    text: str | None = Field(default=None)
    # The post's creation time on X; None when X did not say (or for rows carried over from
    # before this table, until a poll sees the post again).
    posted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_seen_at: datetime = _created()


class Payout(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("campaign_id", "x_user_id", name="uq_payout_recipient"),
        # Batches find pending rows by seq; no index on state, so that settling a row does not
        # touch every index (PostgreSQL updates it in place when its page has room: migration
        # 0006 leaves room).
        Index("ix_payout_campaign_seq", "campaign_id", "seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="campaign.id", max_length=32)
    # Position in the reward table; distribution batches walk it in order.
    seq: int
    x_user_id: str = Field(max_length=64)
    wallet: str = Field(max_length=200)
    amount: int = _money()
    # pending | paid | failed
    state: str = Field(default="pending", max_length=16)
    key: str = Field(max_length=200, unique=True)
    # a chain receipt is "<transaction hash>:<log index>": longer than an HTTP ledger ID
    receipt_id: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class TimelineEvent(SQLModel, table=True):
    __tablename__ = "timeline_event"
    __table_args__ = (UniqueConstraint("campaign_id", "seq", name="uq_timeline_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="campaign.id", max_length=32)
    seq: int
    at: datetime = _created()
    kind: str = Field(max_length=64)
    status: str = Field(max_length=16)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
