"""Polling engagement: record who liked, reposted, quoted and replied; count from the rows.

The liking and reposting lists only show the latest 100, so each poll records what it sees
and the rows keep them from poll to poll: one engagement per campaign, user and kind (awareness
rewards and the counters), and one row per reply or quote post with its creation time on X
(quests, where any of a user's posts may hold the answer). The counters and what has been
earned so far are derived from the rows, never incremented.

Replies are read incrementally: X's recent search pages through a post's replies newest first,
and a 20,000-reply campaign read them all again at every poll (200 requests, each post billed by
X). A poll asks only for replies X created from ``SEARCH_INDEX_LAG`` before the last whole read
began, so a reply that was not searchable yet then is read now; the first read, a campaign
whose last read is beyond X's seven days, and rows still without X's time read everything.

A read that X refuses for good (a bad token, a deleted post) fails as ``ReadRefused``,
non-retryable, with a reason a person can act on: the workflow puts the campaign in
``attention`` rather than losing the engagement silently or retrying forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, TypeVar

from sqlalchemy import Table, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.engagement_bulk import insert_engagements, upsert_posts
from activities.errors import activity_failure, not_found
from activities.payloads import POLL_ENGAGEMENT, PollRequest, PollResult
from activities.reward_store import CampaignNotFound, load_reward_inputs, load_spec
from clients.ports import ExternalError, PermanentError, Post, SocialPlatform
from core.db import SessionFactory
from core.models import Campaign, Engagement, EngagementPost, Owner
from core.rewards import earned_so_far, post_id_order
from core.types import utcnow

ENGAGEMENT: Table = Engagement.__table__  # type: ignore[attr-defined]
ENGAGEMENT_POST: Table = EngagementPost.__table__  # type: ignore[attr-defined]
READ_REFUSED = "ReadRefused"

# What to look at, by status, when X refuses a read; the poll reads with the app's token.
REFUSAL_HINTS = {
    401: "check the X read token, CAMPAIGNS_X_BEARER_TOKEN",
    403: "the X read token may not read this; check its app's access level",
    404: "the post was deleted, or the X read token cannot see it",
}

# X indexes a reply for search a moment after it is posted: each read of the replies starts
# this long before the last one began, so a reply that was not searchable then is read now.
SEARCH_INDEX_LAG = timedelta(seconds=30)
# X's recent search reaches back seven days (a start_time before that is refused): a last read
# older than this reads everything X still has.
SEARCH_REACH = timedelta(days=7) - timedelta(minutes=10)

T = TypeVar("T")


@dataclass(frozen=True)
class Seen:
    x_user_id: str
    kind: str
    post_id: str | None = None
    text: str | None = None
    posted_at: datetime | None = None  # the post's creation time on X


class EngagementActivities:
    def __init__(
        self,
        session_factory: SessionFactory,
        social: SocialPlatform,
        *,
        search_index_lag: timedelta = SEARCH_INDEX_LAG,
    ) -> None:
        self._sessions = session_factory
        self._social = social
        self._search_index_lag = search_index_lag

    @activity.defn(name=POLL_ENGAGEMENT)
    async def poll_engagement(self, request: PollRequest) -> PollResult:
        owner_x_id, replies_since = await asyncio.to_thread(self._poll_start, request.campaign_id)
        read_began = utcnow()
        post_id = request.first_post_id
        metrics = await _read(self._social.post_metrics(post_id), post_id, "its metrics")
        seen: list[Seen] = []
        if metrics.like_count:
            likers = await _read(self._social.liking_users(post_id), post_id, "its likes")
            seen += [Seen(u.id, "like") for u in likers]
        if metrics.repost_count:
            reposters = await _read(self._social.reposted_by(post_id), post_id, "its reposts")
            seen += [Seen(u.id, "repost") for u in reposters]
        if metrics.quote_count:
            quotes = await _read(self._social.quote_posts(post_id), post_id, "its quotes")
            seen += _posts("quote", quotes, owner_x_id)
        replies_read = None
        if metrics.reply_count:
            read = self._social.replies(post_id, since=replies_since)
            seen += _posts("reply", await _read(read, post_id, "its replies"), owner_x_id)
            replies_read = read_began
        polled_at = utcnow()
        return await asyncio.to_thread(
            self._record_and_count, request, seen, polled_at, replies_read
        )

    def _poll_start(self, campaign_id: str) -> tuple[str, datetime | None]:
        """The owner's X user (their own replies are not engagement) and where the read of
        the replies starts (None: from the beginning)."""
        with self._sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            owner = session.get(Owner, campaign.owner_id) if campaign else None
            if campaign is None or owner is None:
                raise not_found(f"campaign {campaign_id}")
            return owner.x_user_id, self._replies_since(session, campaign, utcnow())

    def _replies_since(
        self, session: Session, campaign: Campaign, now: datetime
    ) -> datetime | None:
        if campaign.replies_read_at is None:
            return None
        c = ENGAGEMENT_POST.c
        no_time = select(c.post_id).where(c.campaign_id == campaign.id, c.posted_at.is_(None))
        if session.exec(no_time.limit(1)).first() is not None:  # type: ignore[call-overload]
            return None  # rows carried over by migration 0002: a whole read fills their time in
        since = campaign.replies_read_at - self._search_index_lag
        return since if since >= now - SEARCH_REACH else None

    def _record_and_count(
        self,
        request: PollRequest,
        seen: list[Seen],
        polled_at: datetime,
        replies_read: datetime | None,
    ) -> PollResult:
        with self._sessions() as session:
            _record(session, request.campaign_id, seen, polled_at)
            if replies_read is not None:
                # With the rows, in one commit: the mark never runs ahead of what is recorded.
                _mark_replies_read(session, request.campaign_id, replies_read)
            session.commit()
            return _count(session, request, polled_at)


async def _read(call: Awaitable[T], post_id: str, what: str) -> T:
    try:
        answer = await call
        activity.heartbeat(f"read {what}")  # alive: a killed worker is noticed in seconds
        return answer
    except PermanentError as error:
        raise read_refused(post_id, what, error) from error
    except ExternalError as error:
        raise activity_failure(error) from error


def read_refused(post_id: str, what: str, error: PermanentError) -> ApplicationError:
    """A refusal in words an operator can act on: the status, what was read, where to look."""
    try:
        phrase = HTTPStatus(error.status).phrase
    except ValueError:
        phrase = "refused"
    message = f"X refused to read engagement of post {post_id} ({what}): {error.status} {phrase}"
    if error.detail and error.detail != phrase:
        message += f' ("{error.detail}")'
    hint = REFUSAL_HINTS.get(error.status)
    if hint:
        message += f"; {hint}"
    return ApplicationError(message, type=READ_REFUSED, non_retryable=True)


def _posts(kind: str, posts: list[Post], owner_x_id: str) -> list[Seen]:
    """Quotes and replies by others (the campaign's own second post is a reply, too)."""
    return [
        Seen(post.author_id, kind, post.id, post.text, post.created_at)
        for post in posts
        if post.author_id and post.author_id != owner_x_id
    ]


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _record(session: Session, campaign_id: str, seen: list[Seen], polled_at: datetime) -> None:
    """Insert what is new; what is recorded stays (a retried or repeated poll adds nothing).

    Inserting with ON CONFLICT, not after a read of what exists, also keeps two overlapping
    attempts of a poll from failing each other on the unique constraints. A post already
    recorded with X's time is left out before that: its engagement was recorded with it, in
    the same transaction, and a read that starts before the last one began, or a whole one,
    meets them again (upserting 20,000 known rows again took 0.33 s; reading their IDs a
    few ms).
    """
    recorded = _posts_recorded_with_their_time(session, campaign_id)
    seen = [s for s in seen if s.post_id is None or s.post_id not in recorded]
    # X lists posts newest first: walk them oldest first, so an (user, kind) engagement
    # recorded from several new posts at once keeps the earliest.
    in_order = sorted(
        seen, key=lambda s: (s.posted_at or polled_at, post_id_order(s.post_id), s.kind)
    )
    engagements = {
        (s.x_user_id, s.kind): {
            "campaign_id": campaign_id,
            "x_user_id": s.x_user_id,
            "kind": s.kind,
            "post_id": s.post_id,
            "text": s.text,
            "first_seen_at": polled_at,
        }
        for s in reversed(in_order)  # the earliest wins: it is written last
    }
    bulk = session.get_bind().dialect.name == "postgresql"  # one statement, not one a row
    if engagements and bulk:
        insert_engagements(session, list(engagements.values()))
    elif engagements:
        statement = _insert(session, ENGAGEMENT).on_conflict_do_nothing(
            index_elements=["campaign_id", "x_user_id", "kind"]
        )
        session.execute(statement, list(engagements.values()))
    posts = {
        s.post_id: {
            "campaign_id": campaign_id,
            "post_id": s.post_id,
            "x_user_id": s.x_user_id,
            "kind": s.kind,
            "text": s.text,
            "posted_at": s.posted_at,
            "first_seen_at": polled_at,
        }
        for s in reversed(in_order)
        if s.post_id is not None
    }
    if posts and bulk:
        upsert_posts(session, list(posts.values()))
    elif posts:
        insert = _insert(session, ENGAGEMENT_POST)
        # Rows carried over by migration 0002 have no creation time: fill it in once X says.
        statement = insert.on_conflict_do_update(
            index_elements=["campaign_id", "post_id"],
            set_={"posted_at": insert.excluded.posted_at},
            where=ENGAGEMENT_POST.c.posted_at.is_(None),
        )
        session.execute(statement, list(posts.values()))


def _mark_replies_read(session: Session, campaign_id: str, began: datetime) -> None:
    """Moves the mark forward only: an attempt that began earlier and ends later (a retry
    overlapping another) does not move it back."""
    c = Campaign.__table__.c  # type: ignore[attr-defined]
    session.execute(
        update(Campaign)
        .where(c.id == campaign_id, or_(c.replies_read_at.is_(None), c.replies_read_at < began))
        .values(replies_read_at=began)
    )


def _posts_recorded_with_their_time(session: Session, campaign_id: str) -> set[str]:
    """Rows carried over by migration 0002 have no creation time yet: those are not in it,
    so the next poll fills their time in."""
    c = ENGAGEMENT_POST.c
    query = select(c.post_id).where(c.campaign_id == campaign_id, c.posted_at.is_not(None))
    return set(session.exec(query).all())  # type: ignore[call-overload]


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
    counts = {
        "likes": by_kind.get("like", 0),
        "reposts": by_kind.get("repost", 0),
        "replies": by_kind.get("reply", 0),
        "quotes": by_kind.get("quote", 0),
        "unique_engagers": int(unique),
    }
    if request.final:
        return PollResult(
            **counts,
            earned=None,
            recipients=None,
            ineligible=None,
            exhausted=None,
            polled_at=polled_at,
        )
    try:
        spec = load_spec(session, campaign_id)
    except CampaignNotFound as error:
        raise not_found(f"campaign {campaign_id}") from error
    # The same inputs as the reward table at close, so what is shown is what will be paid.
    facts, wallets = load_reward_inputs(session, campaign_id, spec)
    table = earned_so_far(spec, facts, wallets, request.budget)
    return PollResult(
        **counts,
        earned=table.earned,
        recipients=table.recipients,
        ineligible=table.ineligible,
        exhausted=table.exhausted,
        polled_at=polled_at,
    )
