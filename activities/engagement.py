"""Polling engagement: record who liked, reposted, quoted and replied; count from the rows.

The liking and reposting lists only show the latest 100, so each poll records what it sees
and the rows (unique per campaign, user and kind) keep them from poll to poll. The counters
and what has been earned so far are derived from the rows, never incremented.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select
from temporalio import activity

from activities.errors import as_activity_failures, not_found
from activities.payloads import POLL_ENGAGEMENT, PollRequest, PollResult
from clients.ports import Post, SocialPlatform
from core.campaign_spec import CampaignSpec
from core.db import SessionFactory
from core.models import Campaign, Engagement, Owner, Participant
from core.rewards import EngagementFact, earned_so_far
from core.types import utcnow


@dataclass(frozen=True)
class Seen:
    x_user_id: str
    kind: str
    post_id: str | None = None
    text: str | None = None


class EngagementActivities:
    def __init__(self, session_factory: SessionFactory, social: SocialPlatform) -> None:
        self._sessions = session_factory
        self._social = social

    @activity.defn(name=POLL_ENGAGEMENT)
    async def poll_engagement(self, request: PollRequest) -> PollResult:
        owner_x_id = await asyncio.to_thread(self._owner_x_id, request.campaign_id)
        post_id = request.first_post_id
        with as_activity_failures():
            metrics = await self._social.post_metrics(post_id)
            seen: list[Seen] = []
            if metrics.like_count:
                seen += [Seen(u.id, "like") for u in await self._social.liking_users(post_id)]
            if metrics.repost_count:
                seen += [Seen(u.id, "repost") for u in await self._social.reposted_by(post_id)]
            activity.heartbeat("likes and reposts fetched")
            if metrics.quote_count:
                seen += _posts("quote", await self._social.quote_posts(post_id), owner_x_id)
            if metrics.reply_count:
                seen += _posts("reply", await self._social.replies(post_id), owner_x_id)
        polled_at = utcnow()
        return await asyncio.to_thread(self._record_and_count, request, seen, polled_at)

    def _owner_x_id(self, campaign_id: str) -> str:
        with self._sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            owner = session.get(Owner, campaign.owner_id) if campaign else None
            if campaign is None or owner is None:
                raise not_found(f"campaign {campaign_id}")
            return owner.x_user_id

    def _record_and_count(
        self, request: PollRequest, seen: list[Seen], polled_at: datetime
    ) -> PollResult:
        campaign_id = request.campaign_id
        with self._sessions() as session:
            known = set(
                session.exec(
                    select(Engagement.x_user_id, Engagement.kind).where(
                        Engagement.campaign_id == campaign_id
                    )
                ).all()
            )
            for item in seen:
                if (item.x_user_id, item.kind) in known:
                    continue
                known.add((item.x_user_id, item.kind))
                session.add(
                    Engagement(
                        campaign_id=campaign_id,
                        x_user_id=item.x_user_id,
                        kind=item.kind,
                        post_id=item.post_id,
                        text=item.text,
                        first_seen_at=polled_at,
                    )
                )
            session.commit()
            return _count(session, request, polled_at)


def _posts(kind: str, posts: list[Post], owner_x_id: str) -> list[Seen]:
    """Quotes and replies by others (the campaign's own second post is a reply, too)."""
    return [
        Seen(post.author_id, kind, post.id, post.text)
        for post in posts
        if post.author_id and post.author_id != owner_x_id
    ]


def _count(session: Session, request: PollRequest, polled_at: datetime) -> PollResult:
    campaign_id = request.campaign_id
    by_kind = dict(
        session.exec(
            select(Engagement.kind, func.count())
            .where(Engagement.campaign_id == campaign_id)
            .group_by(Engagement.kind)
        ).all()
    )
    unique = session.exec(
        select(func.count(func.distinct(Engagement.x_user_id))).where(
            Engagement.campaign_id == campaign_id
        )
    ).one()
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise not_found(f"campaign {campaign_id}")
    rows = session.exec(select(Engagement).where(Engagement.campaign_id == campaign_id)).all()
    facts = [EngagementFact(e.x_user_id, e.kind, e.first_seen_at, e.text) for e in rows]
    engaged = select(Engagement.x_user_id).where(Engagement.campaign_id == campaign_id)
    wallets = dict(
        session.exec(
            select(Participant.x_user_id, Participant.wallet).where(
                col(Participant.x_user_id).in_(engaged)
            )
        ).all()
    )
    table = earned_so_far(
        CampaignSpec.model_validate(campaign.spec), facts, wallets, request.budget
    )
    return PollResult(
        likes=by_kind.get("like", 0),
        reposts=by_kind.get("repost", 0),
        replies=by_kind.get("reply", 0),
        quotes=by_kind.get("quote", 0),
        unique_engagers=int(unique),
        earned=table.earned,
        recipients=table.recipients,
        ineligible=table.ineligible,
        exhausted=table.exhausted,
        polled_at=polled_at,
    )
