"""Engagement polls against the sandbox over HTTP, on both databases: every reply and quote is
recorded once with X's creation time, quests look at all of them, and a read that X refuses
fails with a reason a person can act on instead of being lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.engagement import SEARCH_INDEX_LAG, EngagementActivities
from activities.payloads import PollRequest, PollResult
from activities.reward_store import current_reward_table
from clients.ports import Post
from clients.x_api import XApiClient
from core.db import make_engine, session_factory
from core.migrate import alembic_config, upgrade
from core.models import Campaign, Engagement, EngagementPost, Owner
from tests.workflows.campaign_stack import (
    OWNER_X_ID,
    CampaignStack,
    awareness_spec,
    campaign_stack,
    quest_spec,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


class ReplyReader(XApiClient):
    """Reads X as the poll does, and keeps what each read of the replies asked (``since``)
    and the IDs X answered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads: list[tuple[datetime | None, set[str]]] = []

    async def replies(self, conversation_id: str, *, since: datetime | None = None) -> list[Post]:
        posts = await super().replies(conversation_id, since=since)
        self.reads.append((since, {post.id for post in posts}))
        return posts


@dataclass
class PolledCampaign:
    stack: CampaignStack
    campaign_id: str
    first_post_id: str
    budget: int
    owner_x: XApiClient  # posts as the owner
    activities: EngagementActivities
    reader: ReplyReader

    async def poll(self, *, final: bool = False) -> PollResult:
        request = PollRequest(self.campaign_id, self.first_post_id, self.budget, final=final)
        return await ActivityEnvironment().run(self.activities.poll_engagement, request)

    async def engage(self, *engagements: dict[str, Any]) -> list[str]:
        """Engage with the first post; answers the IDs of the quotes and replies made."""
        body = {"tweet_id": self.first_post_id, "engagements": list(engagements)}
        return list((await self.stack.sandbox("POST", "/engagements", body))["post_ids"])

    async def truth(self) -> list[tuple[str, str, str, datetime]]:
        """(post ID, author, text, created_at) of every post on the sandbox's X but the owner's."""
        return sorted(
            (p["id"], p["author_id"], p["text"], datetime.fromisoformat(p["created_at"]))
            for p in await self.stack.posts()
            if p["author_id"] != OWNER_X_ID
        )


@contextlib.asynccontextmanager
async def polled_campaign(
    engine: Engine,
    spec: dict[str, Any],
    *,
    read_token: str | None = "app",
    search_index_lag: timedelta = SEARCH_INDEX_LAG,
) -> AsyncIterator[PolledCampaign]:
    """A drafted campaign whose first post is on the sandbox, and the poll activity reading X
    with the app's token (``read_token=None``: with none at all)."""
    # The stack's Temporal client is not used here: activities run in ActivityEnvironment.
    async with campaign_stack(None, engine) as stack:  # type: ignore[arg-type]
        campaign_id = stack.draft(spec)
        with Session(engine) as session:
            owner = session.get(Owner, stack.owner_id)
            assert owner is not None and owner.x_access_token
            owner_token = owner.x_access_token
        owner_x = XApiClient(stack.http, stack.base_url, owner_token)
        first_post = await owner_x.create_post(spec["first_post"]["text"])
        token = stack.app_token if read_token == "app" else read_token
        reader = ReplyReader(stack.http, stack.base_url, token)
        activities = EngagementActivities(
            session_factory(engine), reader, search_index_lag=search_index_lag
        )
        yield PolledCampaign(
            stack, campaign_id, first_post.id, spec["budget"], owner_x, activities, reader
        )


def recorded_posts(engine: Engine, campaign_id: str) -> list[tuple[str, str, str, datetime | None]]:
    c = EngagementPost.__table__.c  # type: ignore[attr-defined]
    with engine.connect() as connection:
        query = select(c.post_id, c.x_user_id, c.text, c.posted_at).where(
            c.campaign_id == campaign_id
        )
        return sorted(tuple(row) for row in connection.execute(query))  # type: ignore[misc]


def replies_read_at(engine: Engine, campaign_id: str) -> datetime | None:
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.replies_read_at


def set_replies_read_at(engine: Engine, campaign_id: str, at: datetime) -> None:
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.replies_read_at = at
        session.add(campaign)
        session.commit()


def engagement_rows(engine: Engine, campaign_id: str) -> list[tuple[str, str, str | None]]:
    c = Engagement.__table__.c  # type: ignore[attr-defined]
    with engine.connect() as connection:
        query = select(c.x_user_id, c.kind, c.post_id).where(c.campaign_id == campaign_id)
        return sorted(tuple(row) for row in connection.execute(query))  # type: ignore[misc]


# --- recording every post ----------------------------------------------------------------


async def test_every_reply_and_quote_is_recorded_once_across_polls(db: Engine) -> None:
    async with polled_campaign(db, awareness_spec()) as campaign:
        campaign.stack.register("2001")
        first_reply, _, quote, other_reply = await campaign.engage(
            {"user_id": "2001", "kind": "reply", "text": "first thought"},
            {"user_id": "2001", "kind": "reply", "text": "second thought"},
            {"user_id": "2001", "kind": "quote", "text": "quoting it"},
            {"user_id": "2002", "kind": "reply", "text": "me too"},
        )
        # The campaign's own replies (its second post) are not engagement.
        await campaign.owner_x.create_post("our terms", reply_to=campaign.first_post_id)
        first = await campaign.poll()
        second = await campaign.poll()
        truth = await campaign.truth()

    assert len(truth) == 4
    assert recorded_posts(db, campaign.campaign_id) == truth, "each post once, X's own times"
    assert engagement_rows(db, campaign.campaign_id) == [
        ("2001", "quote", quote),
        ("2001", "reply", first_reply),  # the earliest, though X lists newest first
        ("2002", "reply", other_reply),
    ], "one engagement per user and kind, for awareness and the counters"
    for result in (first, second):
        assert (result.replies, result.quotes, result.unique_engagers) == (2, 1, 2)
    # 2001 is registered (a reply and a quote, once each); 2002 is not
    assert (second.earned, second.recipients, second.ineligible) == (20 + 50, 1, 1)
    assert (first.earned, first.recipients, first.ineligible) == (70, 1, 1)


async def test_the_final_fetch_records_and_counts_but_leaves_the_earnings_to_the_table(
    db: Engine,
) -> None:
    async with polled_campaign(db, awareness_spec()) as campaign:
        campaign.stack.register("2001")
        early = await campaign.poll()
        await campaign.engage(
            {"user_id": "2001", "kind": "reply", "text": "in at the end"},
            {"user_id": "2002", "kind": "like"},
        )
        final = await campaign.poll(final=True)

    assert (early.replies, early.earned) == (0, 0)
    assert (final.replies, final.likes, final.unique_engagers) == (1, 1, 2)
    earnings = (final.earned, final.recipients, final.ineligible, final.exhausted)
    assert earnings == (None, None, None, None), "the reward table right after works them out"
    with Session(db) as session:
        closing = current_reward_table(session, campaign.campaign_id, budget=campaign.budget)
    assert [(r.x_user_id, r.amount) for r in closing.rows] == [("2001", 20)], "it was recorded"


async def test_two_overlapping_attempts_of_the_final_fetch_record_each_post_once(
    db: Engine,
) -> None:
    """A retried attempt can run beside the first (a heartbeat timed out while it still ran):
    both read what is recorded, both write what is new, and neither fails the other."""
    async with polled_campaign(db, awareness_spec()) as campaign:
        campaign.stack.register("2001", "2002")
        await campaign.engage({"user_id": "2001", "kind": "reply", "text": "early"})
        await campaign.poll()
        await campaign.engage(
            {"user_id": "2002", "kind": "reply", "text": "late"},
            {"user_id": "2001", "kind": "quote", "text": "quoted late"},
        )
        first, second = await asyncio.gather(campaign.poll(final=True), campaign.poll(final=True))
        truth = await campaign.truth()

    assert recorded_posts(db, campaign.campaign_id) == truth, "each post once, X's own times"
    assert [row[:2] for row in engagement_rows(db, campaign.campaign_id)] == [
        ("2001", "quote"),
        ("2001", "reply"),
        ("2002", "reply"),
    ]
    for attempt in (first, second):
        assert (attempt.replies, attempt.quotes, attempt.unique_engagers) == (2, 1, 2)


# --- reading only the new replies ---------------------------------------------------------


async def test_a_poll_asks_x_only_for_the_replies_since_the_last_read_began(db: Engine) -> None:
    """A 20,000-reply campaign read all of them again at every poll (200 requests): each read
    now starts where the one before began, and what was recorded stays counted."""
    async with polled_campaign(db, awareness_spec(), search_index_lag=timedelta(0)) as campaign:
        campaign.stack.register("2001", "2002")
        [early] = await campaign.engage({"user_id": "2001", "kind": "reply", "text": "early"})
        await campaign.poll()
        mark = replies_read_at(db, campaign.campaign_id)
        [late] = await campaign.engage({"user_id": "2002", "kind": "reply", "text": "late"})
        final = await campaign.poll(final=True)
        truth = await campaign.truth()

    (first_since, first_read), (since, read) = campaign.reader.reads
    assert first_since is None and early in first_read, "the first read is a whole one"
    assert mark is not None and since == mark
    created = {post_id: at for post_id, _, _, at in truth}
    assert late in read
    # X's start_time is whole seconds: nothing created before the mark's second comes back
    assert all(created[post_id] >= mark.replace(microsecond=0) for post_id in read)
    assert recorded_posts(db, campaign.campaign_id) == truth, "each reply once, X's own times"
    assert (final.replies, final.unique_engagers) == (2, 2), "counted from the rows"
    assert replies_read_at(db, campaign.campaign_id) > mark  # type: ignore[operator]


async def test_a_reply_x_indexed_late_is_read_by_the_next_poll(db: Engine) -> None:
    """X may make a reply searchable a moment after it was posted, so a read starts
    ``SEARCH_INDEX_LAG`` before the last one began: a reply posted just before that read is
    asked for again, and recorded once."""
    async with polled_campaign(db, awareness_spec()) as campaign:
        campaign.stack.register("2001", "2002")
        [before] = await campaign.engage({"user_id": "2001", "kind": "reply", "text": "hi"})
        await campaign.poll()
        mark = replies_read_at(db, campaign.campaign_id)
        [after] = await campaign.engage({"user_id": "2002", "kind": "reply", "text": "yo"})
        polled = await campaign.poll(final=True)
        truth = await campaign.truth()

    assert mark is not None
    (_, _), (since, read) = campaign.reader.reads
    assert since == mark - SEARCH_INDEX_LAG
    assert {before, after} <= read, "posted within the lag before the last read: asked again"
    assert recorded_posts(db, campaign.campaign_id) == truth, "and recorded once"
    assert polled.replies == 2


async def test_an_attempt_that_began_before_the_mark_does_not_move_it_back(db: Engine) -> None:
    """A slow attempt that ends after a newer one (a retry running beside it) must not pull
    the mark back: the next poll would read again what the newer one already read."""
    ahead = datetime.now(UTC) + timedelta(minutes=5)
    async with polled_campaign(db, awareness_spec()) as campaign:
        campaign.stack.register("2001")
        await campaign.engage({"user_id": "2001", "kind": "reply", "text": "hello"})
        set_replies_read_at(db, campaign.campaign_id, ahead)  # a newer attempt moved it here
        await campaign.poll()

    assert replies_read_at(db, campaign.campaign_id) == ahead


async def test_a_campaign_whose_last_read_is_beyond_x_reach_reads_everything(db: Engine) -> None:
    """A campaign paused for eight days: X refuses a start_time before seven days ago, so the
    next poll reads every reply X still has instead of failing the read."""
    async with polled_campaign(db, awareness_spec()) as campaign:
        campaign.stack.register("2001")
        [reply] = await campaign.engage({"user_id": "2001", "kind": "reply", "text": "hello"})
        set_replies_read_at(db, campaign.campaign_id, datetime.now(UTC) - timedelta(days=8))
        polled = await campaign.poll()

    [(since, read)] = campaign.reader.reads
    assert since is None and reply in read
    assert polled.replies == 1


async def test_a_quest_answer_in_a_later_reply_wins(db: Engine) -> None:
    async with polled_campaign(db, quest_spec()) as campaign:  # "Blue Moon", 2 winners, 1001
        campaign.stack.register("2001")
        await campaign.engage({"user_id": "2001", "kind": "reply", "text": "the red sun?"})
        before = await campaign.poll()
        await campaign.engage({"user_id": "2001", "kind": "reply", "text": "no: BLUE moon"})
        after = await campaign.poll()

    assert (before.recipients, before.earned) == (0, 0)
    assert (after.recipients, after.earned, after.replies) == (1, 500, 1)
    with Session(db) as session:
        closing = current_reward_table(session, campaign.campaign_id, budget=1_001)
    assert [(r.x_user_id, r.amount) for r in closing.rows] == [("2001", 500)]
    assert closing.earned == after.earned, "the poll and the close agree"


async def test_quest_winners_follow_creation_on_x_then_post_id(db: Engine) -> None:
    async with campaign_stack(None, db) as stack:  # type: ignore[arg-type]
        campaign_id = stack.draft(quest_spec(quest={"answer": "42", "winners": 2}, budget=100))
        stack.register("a", "b", "c")

    def answer(user: str, post_id: str, posted: int, seen: int) -> EngagementPost:
        return EngagementPost(
            campaign_id=campaign_id,
            post_id=post_id,
            x_user_id=user,
            kind="reply",
            text="it is 42",
            posted_at=T0 + timedelta(minutes=posted),
            first_seen_at=T0 + timedelta(minutes=seen),
        )

    with Session(db) as session:
        # Seen in the order a, b, c; made on X in the order c and b (a tie, "9" < "10"), a.
        session.add(answer("a", "1000", posted=5, seen=10))
        session.add(answer("b", "10", posted=3, seen=20))
        session.add(answer("c", "9", posted=3, seen=30))
        session.commit()
        table = current_reward_table(session, campaign_id, budget=100)
    assert [(r.x_user_id, r.amount) for r in table.rows] == [("c", 50), ("b", 50)]


async def test_upgrading_a_0001_database_keeps_the_recorded_replies(db: Engine) -> None:
    url = db.url.render_as_string(hide_password=False)
    async with polled_campaign(db, quest_spec()) as campaign:
        command.downgrade(alembic_config(url), "0001")  # the campaign was drafted before
        campaign.stack.register("2001")
        [reply_id] = await campaign.engage(
            {"user_id": "2001", "kind": "reply", "text": "Blue Moon"}
        )
        with Session(db) as session:  # what the 0001 poll recorded: the user's first reply
            session.add(
                Engagement(
                    campaign_id=campaign.campaign_id,
                    x_user_id="2001",
                    kind="reply",
                    post_id=reply_id,
                    text="Blue Moon",
                    first_seen_at=T0,
                )
            )
            session.commit()
        upgrade(url)
        carried = recorded_posts(db, campaign.campaign_id)
        polled = await campaign.poll()
        truth = await campaign.truth()

    assert carried == [(reply_id, "2001", "Blue Moon", None)], "X's time was never recorded"
    assert recorded_posts(db, campaign.campaign_id) == truth, "the next poll fills it in, once"
    assert (polled.recipients, polled.earned) == (1, 500)


# --- reads that X refuses ----------------------------------------------------------------


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


async def test_a_read_token_x_rejects_is_a_refusal_a_person_can_act_on(sqlite_db: Engine) -> None:
    async with polled_campaign(sqlite_db, awareness_spec(), read_token=None) as campaign:
        with pytest.raises(ApplicationError) as raised:
            await campaign.poll()

    refusal = raised.value
    assert (refusal.type, refusal.non_retryable) == ("ReadRefused", True)
    message = refusal.message  # what the workflow and the status document show
    assert message.startswith(f"X refused to read engagement of post {campaign.first_post_id}")
    assert "401 Unauthorized" in message and "CAMPAIGNS_X_BEARER_TOKEN" in message
    assert "Error" not in message and "Permanent" not in message, message


async def test_a_deleted_campaign_post_is_a_refusal_naming_it(sqlite_db: Engine) -> None:
    async with polled_campaign(sqlite_db, awareness_spec()) as campaign:
        assert await campaign.owner_x.delete_post(campaign.first_post_id)
        with pytest.raises(ApplicationError) as raised:
            await campaign.poll()

    assert (raised.value.type, raised.value.non_retryable) == ("ReadRefused", True)
    message = raised.value.message
    assert f"post {campaign.first_post_id}" in message
    assert "404 Not Found" in message and "deleted" in message


async def test_a_rate_limit_waits_until_the_reset(sqlite_db: Engine) -> None:
    async with polled_campaign(sqlite_db, awareness_spec()) as campaign:
        await campaign.stack.sandbox(
            "PUT", "/faults", {"rate_limit": {"limit": 0, "window_s": 120}, "target": "x"}
        )
        with pytest.raises(ApplicationError) as limited:
            await campaign.poll()

    assert (limited.value.type, limited.value.non_retryable) == ("RateLimited", False)
    delay = limited.value.next_retry_delay
    assert delay is not None and timedelta(seconds=60) < delay <= timedelta(seconds=121)


async def test_a_server_error_retries(sqlite_db: Engine) -> None:
    async with polled_campaign(sqlite_db, awareness_spec()) as campaign:
        await campaign.stack.sandbox("PUT", "/faults", {"error_rate": 1.0, "target": "x"})
        with pytest.raises(ApplicationError) as unavailable:
            await campaign.poll()

    assert (unavailable.value.type, unavailable.value.non_retryable) == ("RetryableError", False)
    assert unavailable.value.next_retry_delay is None
