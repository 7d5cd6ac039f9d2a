"""The X API client against the sandbox over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clients.ports import (
    DuplicateContent,
    MediaProcessingFailed,
    PermanentError,
    RateLimited,
    RetryableError,
)
from sandbox.x_world import media_bytes
from tests.sandbox.world import SandboxWorld


async def test_post_reply_and_read_back(world: SandboxWorld) -> None:
    token = await world.user("1001", "brand")
    x = world.x(token)
    first = await x.create_post("Launch week!")
    second = await x.create_post("Terms: be nice", reply_to=first.id)

    fetched = await x.get_post(second.id)
    assert fetched.author_id == "1001"
    assert fetched.in_reply_to_post_id == first.id
    assert fetched.conversation_id == first.id
    truth = {p["id"]: p for p in await world.posts()}
    assert truth[second.id]["in_reply_to_tweet_id"] == first.id


async def test_token_argument_overrides_default_bearer(world: SandboxWorld) -> None:
    brand = await world.user("1001")
    other = await world.user("1002")
    post = await world.x(brand).create_post("mine", token=other)
    assert (await world.posts())[0]["author_id"] == "1002"
    assert post.text == "mine"


async def test_write_with_unknown_token_is_permanent_401(world: SandboxWorld) -> None:
    with pytest.raises(PermanentError) as caught:
        await world.x("not-a-user").create_post("hello")
    assert caught.value.status == 401
    assert await world.posts() == []


async def test_duplicate_text_is_recognised(world: SandboxWorld) -> None:
    x = world.x(await world.user("1001"))
    await x.create_post("same words")
    with pytest.raises(DuplicateContent) as caught:
        await x.create_post("same words")
    assert caught.value.status == 403
    assert str(caught.value).startswith("X POST /2/tweets: ")  # the endpoint, named once
    assert len(await world.posts()) == 1


async def test_paging_collects_every_page(world: SandboxWorld) -> None:
    x = world.x(await world.user("1001"))
    post = await x.create_post("engage with me")
    await world.engage(post.id, *({"user_id": str(5000 + n), "kind": "quote"} for n in range(25)))
    await world.engage(post.id, *({"user_id": str(6000 + n), "kind": "reply"} for n in range(230)))
    await world.engage(post.id, *({"user_id": str(7000 + n), "kind": "like"} for n in range(80)))

    quotes = await x.quote_posts(post.id)
    replies = await x.replies(post.id)
    likers = await x.liking_users(post.id)

    assert {q.author_id for q in quotes} == {str(5000 + n) for n in range(25)}
    assert len(replies) == 230  # three pages of search results, the root excluded
    assert {r.in_reply_to_post_id for r in replies} == {post.id}
    assert {u.id for u in likers} == {str(7000 + n) for n in range(80)}
    recent = await x.recent_posts("6003")
    assert [(p.author_id, p.in_reply_to_post_id) for p in recent] == [("6003", post.id)]


async def test_liking_and_reposting_lists_show_only_the_latest_100(world: SandboxWorld) -> None:
    x = world.x(await world.user("1001"))
    post = await x.create_post("popular")
    await world.engage(post.id, *({"user_id": str(8000 + n), "kind": "like"} for n in range(130)))
    await world.engage(post.id, *({"user_id": str(9000 + n), "kind": "repost"} for n in range(101)))

    likers = await x.liking_users(post.id)
    reposters = await x.reposted_by(post.id)
    metrics = await x.post_metrics(post.id)

    assert {u.id for u in likers} == {str(8000 + n) for n in range(30, 130)}
    assert {u.id for u in reposters} == {str(9000 + n) for n in range(1, 101)}
    assert (metrics.like_count, metrics.repost_count) == (130, 101)


async def test_metrics_follow_engagements(world: SandboxWorld) -> None:
    x = world.x(await world.user("1001"))
    post = await x.create_post("count me")
    await world.engage(
        post.id,
        {"user_id": "1", "kind": "like"},
        {"user_id": "1", "kind": "like"},
        {"user_id": "2", "kind": "repost"},
        {"user_id": "3", "kind": "quote", "text": "look"},
        {"user_id": "4", "kind": "reply", "text": "answer"},
        {"user_id": "5", "kind": "reply"},
    )
    metrics = await x.post_metrics(post.id)
    assert (metrics.like_count, metrics.repost_count, metrics.quote_count, metrics.reply_count) == (
        1,
        1,
        1,
        2,
    )


async def test_rate_limit_surfaces_with_the_reset_time(world: SandboxWorld) -> None:
    x = world.x()
    post = await world.x(await world.user("1001")).create_post("limited")
    await world.faults(rate_limit={"limit": 2, "window_s": 120})
    before = datetime.now(UTC)
    await x.post_metrics(post.id)
    await x.post_metrics(post.id)
    with pytest.raises(RateLimited) as caught:
        await x.liking_users(post.id)
    reset = caught.value.reset_at
    assert before.timestamp() + 119 <= reset.timestamp() <= before.timestamp() + 122
    # The client remembers the spent window and does not call again before the reset.
    with pytest.raises(RateLimited) as again:
        await x.liking_users(post.id)
    assert again.value.reset_at == reset


async def test_server_errors_and_lost_connections_are_retryable(world: SandboxWorld) -> None:
    x = world.x(await world.user("1001"))
    await world.faults(error_rate=1.0)
    with pytest.raises(RetryableError):
        await x.create_post("not sent")
    await world.faults(lose_response_rate=1.0, seed=3)
    for n in range(6):
        with pytest.raises(RetryableError):
            await x.create_post(f"sent but lost {n}")
    await world.clear_faults()
    assert [p["text"] for p in await world.posts()] == [f"sent but lost {n}" for n in range(6)]


async def test_media_upload_waits_for_processing(world: SandboxWorld) -> None:
    x = world.x(await world.user("1001"), chunk_size=1000)
    states: list[str] = []
    data = (await world.http.get(f"{world.url}/sandbox/media/banner.png")).content
    assert data == media_bytes("banner.png")
    media_id = await x.upload_media(data, "image/png", on_progress=states.append)
    assert states[-1] == "succeeded"
    assert len(states) >= 2
    post = await x.create_post("with media", media_ids=[media_id])
    truth = {p["id"]: p for p in await world.posts()}
    assert truth[post.id]["media_ids"] == [media_id]


async def test_media_that_fails_processing_raises(world: SandboxWorld) -> None:
    x = world.x(await world.user("1001"))
    data = (await world.http.get(f"{world.url}/sandbox/media/will-fail.png")).content
    with pytest.raises(MediaProcessingFailed):
        await x.upload_media(data, "image/png")


async def test_missing_post_is_permanent_404(world: SandboxWorld) -> None:
    with pytest.raises(PermanentError) as caught:
        await world.x().post_metrics("1234")
    assert caught.value.status == 404
    assert caught.value.type == "https://api.x.com/2/problems/resource-not-found"
