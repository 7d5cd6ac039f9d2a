"""The sandbox's X, over real HTTP: authorship, engagements as real posts, deletion, media."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from tests.helpers import assert_eventually
from tests.sandbox.world import SandboxWorld


async def test_reads_need_a_bearer_and_accept_any(world: SandboxWorld) -> None:
    token = await world.user("1001")
    post = await world.x(token).create_post("hello")
    anonymous = await world.http.get(f"{world.url}/2/tweets/{post.id}")
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == 89
    anyone = await world.http.get(
        f"{world.url}/2/tweets/{post.id}", headers={"authorization": "Bearer whatever"}
    )
    assert anyone.status_code == 200
    assert anyone.json()["data"]["author_id"] == "1001"


async def test_users_are_idempotent_and_tokens_distinct(world: SandboxWorld) -> None:
    first = await world.user("1001", "brand")
    assert await world.user("1001", "brand") == first
    assert await world.user("1002") != first


async def test_quote_and_reply_engagements_are_real_posts(world: SandboxWorld) -> None:
    x = world.x(await world.user("1001"))
    root = await x.create_post("root")
    terms = await x.create_post("terms", reply_to=root.id)
    quote_ids = await world.engage(root.id, {"user_id": "42", "kind": "quote", "text": "wow"})
    reply_ids = await world.engage(terms.id, {"user_id": "43", "kind": "reply", "text": "42"})

    quotes = await x.quote_posts(root.id)
    replies = await x.replies(root.id)
    assert [(q.id, q.author_id, q.text) for q in quotes] == [(quote_ids[0], "42", "wow")]
    # A reply to the thread's second post is in the root's conversation.
    assert {r.id for r in replies} == {terms.id, reply_ids[0]}
    by_id = {r.id: r for r in replies}
    assert by_id[reply_ids[0]].in_reply_to_post_id == terms.id
    assert by_id[reply_ids[0]].conversation_id == root.id
    # Unknown engagers were created as users on the fly.
    assert [p.author_id for p in await x.recent_posts("43")] == ["43"]


async def test_deleting_is_for_the_author_only(world: SandboxWorld) -> None:
    author = world.x(await world.user("1001"))
    other = world.x(await world.user("1002"))
    post = await author.create_post("mine")
    forbidden = await world.http.delete(
        f"{world.url}/2/tweets/{post.id}",
        headers={"authorization": f"Bearer {other._bearer_token}"},
    )
    assert forbidden.status_code == 403
    assert await author.delete_post(post.id) is True
    assert await author.delete_post(post.id) is False
    assert [p["deleted"] for p in await world.posts()] == [True]
    # Text of a deleted post may be posted again.
    await author.create_post("mine")


async def test_concurrent_identical_posts_create_one(world: SandboxWorld) -> None:
    token = await world.user("1001")
    x = world.x(token)
    outcomes = await asyncio.gather(
        *(x.create_post("exactly once") for _ in range(20)), return_exceptions=True
    )
    created = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(created) == 1
    assert [p["text"] for p in await world.posts()] == ["exactly once"]


async def test_posting_unprocessed_media_is_refused(world: SandboxWorld) -> None:
    token = await world.user("1001")
    headers = {"authorization": f"Bearer {token}"}
    init = await world.http.post(
        f"{world.url}/2/media/upload/initialize",
        json={"media_type": "image/png", "total_bytes": 3},
        headers=headers,
    )
    media_id = init.json()["data"]["id"]
    await world.http.post(
        f"{world.url}/2/media/upload/{media_id}/append",
        json={"media": "YWJj", "segment_index": 0},
        headers=headers,
    )
    await world.http.post(f"{world.url}/2/media/upload/{media_id}/finalize", headers=headers)
    refused = await world.http.post(
        f"{world.url}/2/tweets",
        json={"text": "too soon", "media": {"media_ids": [media_id]}},
        headers=headers,
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert await world.posts() == []


async def test_invalid_body_is_a_problem_naming_the_field(world: SandboxWorld) -> None:
    token = await world.user("1001")
    answer = await world.http.post(
        f"{world.url}/2/tweets", json={"text": 5}, headers={"authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 400
    assert answer.json()["parameter"] == "text"


async def test_simulate_brings_engagers_over_time(world: SandboxWorld) -> None:
    x = world.x(await world.user("1001"))
    post = await x.create_post("organic")
    await world.control("POST", "/simulate", {"tweet_id": post.id, "users": 8, "per_minute": 6000})

    async def all_arrived() -> int:
        metrics = await x.post_metrics(post.id)
        total = (
            metrics.like_count + metrics.repost_count + metrics.quote_count + metrics.reply_count
        )
        assert total == 8
        return total

    arrived: int = await assert_eventually(all_arrived, timeout=10)
    assert arrived == 8


async def test_a_search_sees_every_reply_added_or_deleted_since_the_last(
    world: SandboxWorld,
) -> None:
    """Searches are answered from a cache while nothing changes: every new or deleted post
    must show in the next one, page after page."""
    author = world.x(await world.user("1001"))
    first = await author.create_post("first")
    fans = [world.x(await world.user(str(2000 + n))) for n in range(3)]
    replies = [await fan.create_post(f"reply {n}", reply_to=first.id) for n, fan in enumerate(fans)]
    assert {p.id for p in await author.replies(first.id)} == {r.id for r in replies}
    late = await fans[0].create_post("late reply", reply_to=first.id)
    assert late.id in {p.id for p in await author.replies(first.id)}
    assert await fans[1].delete_post(replies[1].id)
    seen = {p.id for p in await author.replies(first.id)}
    assert seen == {replies[0].id, replies[2].id, late.id}


async def test_recent_search_starts_at_start_time_within_seven_days(world: SandboxWorld) -> None:
    """X's ``start_time``: posts created from that instant on, and nothing before seven days
    ago (X refuses it with a 400 that names the parameter, and so does the sandbox)."""
    x = world.x(await world.user("1001"))
    root = await x.create_post("root")
    early, late = await world.engage(
        root.id,
        {"user_id": "42", "kind": "reply", "text": "early"},
        {"user_id": "43", "kind": "reply", "text": "late"},
    )
    created = {p["id"]: datetime.fromisoformat(p["created_at"]) for p in await world.posts()}
    assert created[early] < created[late], "the sandbox stamps each post as it is made"

    async def search(start_time: datetime | str) -> httpx.Response:
        at = start_time if isinstance(start_time, str) else start_time.isoformat()
        params = {"query": f"conversation_id:{root.id}", "start_time": at}
        headers = {"authorization": "Bearer app-token"}
        return await world.http.get(
            f"{world.url}/2/tweets/search/recent", params=params, headers=headers
        )

    from_late = await search(created[late])
    assert [p["id"] for p in from_late.json()["data"]] == [late]
    whole_second = await x.replies(root.id, since=created[early])  # X's seconds: cut down
    assert {p.id for p in whole_second} == {early, late}
    future = await search(created[late] + timedelta(seconds=1))
    assert future.status_code == 200 and "data" not in future.json()
    for refused in (datetime.now(UTC) - timedelta(days=8), "last tuesday"):
        answer = await search(refused)
        assert answer.status_code == 400, refused
        assert answer.json()["parameter"] == "start_time"
