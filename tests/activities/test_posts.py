"""The post activities over the sandbox: a post whose response was lost is found among the
author's recent posts, not sent twice; only a post the campaign made is ever adopted (or
deleted); X's refusal of another post's text fails fast with a reason a person can act on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.payloads import CampaignRef, PublishRequest
from activities.posts import PostActivities
from clients.ports import Post
from clients.x_api import XApiClient
from core.db import make_engine, session_factory
from core.models import Effect
from sandbox.app import create_app
from sandbox.state import SandboxState
from tests.helpers import serve_asgi
from tests.workflows.campaign_stack import OWNER_X_ID, CampaignStack, awareness_spec

TEXT = "We launched! Same words, twice."


class RecordingX(XApiClient):
    """The real X client that notes which calls it made; ``lagging`` hides every post from the
    author's timeline, as X's index does for a while after a post is made."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.calls: list[str] = []
        self.lagging = False

    async def create_post(self, text: str, **kwargs: Any) -> Post:
        self.calls.append("create_post")
        return await super().create_post(text, **kwargs)

    async def recent_posts(self, user_id: str, **kwargs: Any) -> list[Post]:
        self.calls.append("recent_posts")
        posts = await super().recent_posts(user_id, **kwargs)
        return [] if self.lagging else posts


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@contextlib.asynccontextmanager
async def x_world(engine: Engine) -> AsyncIterator[tuple[CampaignStack, SandboxState]]:
    """The sandbox over HTTP, an owner and the sandbox's world (to age a post)."""
    app = create_app()
    async with serve_asgi(app) as base_url, httpx.AsyncClient(timeout=30) as http:
        # The stack's Temporal client is not used here: activities run in ActivityEnvironment.
        stack = CampaignStack(None, engine, http, base_url, "unused")  # type: ignore[arg-type]
        await stack.setup_owner()
        yield stack, app.state.sandbox


def x_client(stack: CampaignStack) -> RecordingX:
    return RecordingX(stack.http, stack.base_url, stack.app_token)


def post_activities(stack: CampaignStack, social: XApiClient | None = None) -> PostActivities:
    return PostActivities(session_factory(stack.engine), social or x_client(stack), stack.http)


def effect(stack: CampaignStack, key: str) -> Effect:
    with Session(stack.engine) as session:
        found = session.get(Effect, key)
        assert found is not None, key
        return found


async def live_posts(stack: CampaignStack, text: str) -> list[str]:
    return [p["id"] for p in await stack.posts() if p["text"] == text and not p["deleted"]]


async def fails_retryably(env: ActivityEnvironment, posts: PostActivities, campaign: str) -> None:
    with pytest.raises(ApplicationError) as failure:
        await env.run(posts.publish_first_post, PublishRequest(campaign))
    assert not failure.value.non_retryable, failure.value


async def test_a_lost_post_response_is_looked_up_not_resent(db: Engine) -> None:
    async with x_world(db) as (stack, _):
        campaign_id = stack.draft(awareness_spec())
        posts = post_activities(stack)
        env = ActivityEnvironment()
        await stack.sandbox("PUT", "/faults", {"lose_response_rate": 1.0, "target": "x"})
        await fails_retryably(env, posts, campaign_id)
        assert effect(stack, f"{campaign_id}:first-post").state == "unknown"
        await stack.sandbox("DELETE", "/faults")
        found = await env.run(posts.publish_first_post, PublishRequest(campaign_id))
        again = await env.run(posts.publish_first_post, PublishRequest(campaign_id))
        sent = [p for p in await stack.posts() if p["author_id"] == OWNER_X_ID]
    assert found == again
    assert [p["id"] for p in sent] == [found.post_id]


async def test_a_rate_limit_after_an_unknown_attempt_still_looks_the_post_up_first(
    db: Engine,
) -> None:
    async with x_world(db) as (stack, _):
        campaign_id = stack.draft(awareness_spec())
        key = f"{campaign_id}:first-post"
        env = ActivityEnvironment()
        lagging = x_client(stack)
        await stack.sandbox("PUT", "/faults", {"lose_response_rate": 1.0, "target": "x"})
        await fails_retryably(env, post_activities(stack, lagging), campaign_id)  # X made it
        # The next attempt's look-up misses the post (X's index lags) and its resend is
        # refused with a 429: the post may exist, so the effect must stay unknown.
        lagging.lagging = True
        await stack.sandbox("PUT", "/faults", {"rate_limit": {"limit": 1, "window_s": 900}})
        await fails_retryably(env, post_activities(stack, lagging), campaign_id)
        recorded = effect(stack, key)
        assert recorded.state == "unknown" and "rate limited" in (recorded.error or "")
        await stack.sandbox("DELETE", "/faults")
        # The retry after the reset runs with a fresh client (the 429 spent its windows).
        retry = x_client(stack)
        published = await env.run(
            post_activities(stack, retry).publish_first_post, PublishRequest(campaign_id)
        )
        made = [p["id"] for p in await stack.posts() if p["author_id"] == OWNER_X_ID]
    assert lagging.calls == ["create_post", "recent_posts", "create_post"]
    assert retry.calls == ["recent_posts"]  # looked up, found, never sent again
    assert made == [published.post_id]
    assert effect(stack, key).state == "done"


async def test_a_rate_limited_first_send_is_sent_next_time_without_a_look_up(
    db: Engine,
) -> None:
    async with x_world(db) as (stack, _):
        campaign_id = stack.draft(awareness_spec())
        env = ActivityEnvironment()
        await stack.sandbox("PUT", "/faults", {"rate_limit": {"limit": 0, "window_s": 900}})
        await fails_retryably(env, post_activities(stack), campaign_id)
        assert effect(stack, f"{campaign_id}:first-post").state == "prepared"
        await stack.sandbox("DELETE", "/faults")
        # X refused the only send: nothing to look up (a look-up would spend the window).
        retry = x_client(stack)
        published = await env.run(
            post_activities(stack, retry).publish_first_post, PublishRequest(campaign_id)
        )
        made = [p["id"] for p in await stack.posts() if p["author_id"] == OWNER_X_ID]
    assert retry.calls == ["create_post"]
    assert made == [published.post_id]


async def test_a_second_campaign_with_the_same_text_fails_fast_and_adopts_nothing(
    db: Engine,
) -> None:
    async with x_world(db) as (stack, _):
        first = stack.draft(awareness_spec(first_post={"text": TEXT}))
        second = stack.draft(awareness_spec(first_post={"text": TEXT}))
        social = x_client(stack)
        posts = post_activities(stack, social)
        env = ActivityEnvironment()
        theirs = await env.run(posts.publish_first_post, PublishRequest(first))
        with pytest.raises(ApplicationError) as refused:
            await env.run(posts.publish_first_post, PublishRequest(second))
        social.calls.clear()
        with pytest.raises(ApplicationError) as again:
            await env.run(posts.publish_first_post, PublishRequest(second))
        live = await live_posts(stack, TEXT)
    assert social.calls == []  # failed is terminal: not sent, not even looked up, again
    failure = refused.value
    assert failure.non_retryable and failure.type == "DuplicateContent"
    assert theirs.post_id in failure.message and f"campaign {first}" in failure.message
    assert "change the campaign's text" in failure.message
    assert again.value.non_retryable and theirs.post_id in again.value.message
    recorded = effect(stack, f"{second}:first-post")
    assert (recorded.state, recorded.result) == ("failed", None)
    assert live == [theirs.post_id]


async def test_an_unknown_post_never_adopts_another_campaigns_post(db: Engine) -> None:
    async with x_world(db) as (stack, _):
        first = stack.draft(awareness_spec(first_post={"text": TEXT}))
        second = stack.draft(awareness_spec(first_post={"text": TEXT}))
        posts = post_activities(stack)
        env = ActivityEnvironment()
        theirs = await env.run(posts.publish_first_post, PublishRequest(first))
        # 503 before X does anything: the second campaign's post is unknown, and X's
        # timeline holds the first campaign's post with the same text, made moments ago.
        await stack.sandbox("PUT", "/faults", {"error_rate": 1.0, "target": "x"})
        await fails_retryably(env, posts, second)
        await stack.sandbox("DELETE", "/faults")
        await fails_retryably(env, posts, second)
        deleted = await env.run(posts.delete_posts, CampaignRef(second))
        live = await live_posts(stack, TEXT)
    recorded = effect(stack, f"{second}:first-post")
    assert (recorded.state, recorded.result) == ("unknown", None)
    assert deleted.deleted == [] and deleted.kept == []
    assert live == [theirs.post_id]


async def test_an_older_post_of_the_author_with_the_same_text_is_not_adopted(db: Engine) -> None:
    async with x_world(db) as (stack, world):
        owner = await stack.sandbox("POST", "/users", {"id": OWNER_X_ID})
        older = await x_client(stack).create_post(TEXT, token=owner["token"])
        # The owner posted it by hand two minutes before the campaign was published.
        world.x.posts[older.id].created_at -= timedelta(minutes=2)
        campaign_id = stack.draft(awareness_spec(first_post={"text": TEXT}))
        posts = post_activities(stack)
        env = ActivityEnvironment()
        await stack.sandbox("PUT", "/faults", {"error_rate": 1.0, "target": "x"})
        await fails_retryably(env, posts, campaign_id)
        await stack.sandbox("DELETE", "/faults")
        await fails_retryably(env, posts, campaign_id)
        live = await live_posts(stack, TEXT)
    recorded = effect(stack, f"{campaign_id}:first-post")
    assert (recorded.state, recorded.result) == ("unknown", None)
    assert live == [older.id]


async def test_the_second_post_adopts_only_a_reply_to_the_first(db: Engine) -> None:
    async with x_world(db) as (stack, _):
        campaign_id = stack.draft(awareness_spec(second_post={"text": TEXT}))
        posts = post_activities(stack)
        env = ActivityEnvironment()
        first = await env.run(posts.publish_first_post, PublishRequest(campaign_id))
        reply = PublishRequest(campaign_id, reply_to=first.post_id)
        await stack.sandbox("PUT", "/faults", {"error_rate": 1.0, "target": "x"})
        with pytest.raises(ApplicationError):
            await env.run(posts.publish_second_post, reply)
        await stack.sandbox("DELETE", "/faults")
        # Meanwhile the owner posts the same words on their own, not as a reply.
        owner = await stack.sandbox("POST", "/users", {"id": OWNER_X_ID})
        standalone = await x_client(stack).create_post(TEXT, token=owner["token"])
        with pytest.raises(ApplicationError) as failure:
            await env.run(posts.publish_second_post, reply)
        live = await live_posts(stack, TEXT)
    assert not failure.value.non_retryable
    recorded = effect(stack, f"{campaign_id}:second-post")
    assert (recorded.state, recorded.result) == ("unknown", None)
    assert live == [standalone.id]


async def test_two_attempts_publishing_at_once_make_one_post(db: Engine) -> None:
    async with x_world(db) as (stack, _):
        campaign_id = stack.draft(awareness_spec())
        env = ActivityEnvironment()
        attempts = [post_activities(stack).publish_first_post for _ in range(2)]
        published = await asyncio.gather(
            *(env.run(attempt, PublishRequest(campaign_id)) for attempt in attempts)
        )
        made = [p["id"] for p in await stack.posts() if p["author_id"] == OWNER_X_ID]
    assert [p.post_id for p in published] == made * 2
    recorded = effect(stack, f"{campaign_id}:first-post")
    assert (recorded.state, recorded.result) == ("done", {"post_id": made[0]})


async def test_delete_posts_finds_and_deletes_a_post_whose_response_was_lost(
    db: Engine,
) -> None:
    async with x_world(db) as (stack, _):
        campaign_id = stack.draft(awareness_spec())
        posts = post_activities(stack)
        env = ActivityEnvironment()
        await stack.sandbox("PUT", "/faults", {"lose_response_rate": 1.0, "target": "x"})
        await fails_retryably(env, posts, campaign_id)
        await stack.sandbox("DELETE", "/faults")
        made: Sequence[dict[str, Any]] = await stack.posts()
        deleted = await env.run(posts.delete_posts, CampaignRef(campaign_id))
        again = await env.run(posts.delete_posts, CampaignRef(campaign_id))
        after = await stack.posts()
    assert [p["id"] for p in made] == deleted.deleted == again.deleted
    assert [p["deleted"] for p in after] == [True]
    recorded = effect(stack, f"{campaign_id}:first-post")
    assert (recorded.state, recorded.result) == ("done", {"post_id": deleted.deleted[0]})
