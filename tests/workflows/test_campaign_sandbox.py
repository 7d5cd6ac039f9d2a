"""Whole campaigns against the sandbox over HTTP, with the real activities and worker,
under time skipping: what the sandbox saw is what is asserted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.contracts import StatusDocument
from core.db import make_engine
from tests.helpers import assert_eventually
from tests.workflows.campaign_stack import (
    OWNER_X_ID,
    CampaignStack,
    awareness_spec,
    campaign_stack,
    outcome,
    quest_spec,
    record_history_if_asked,
    status_of,
)


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


async def first_post_of(stack: CampaignStack, handle: object) -> str:
    async def running() -> str:
        doc = await status_of(handle)  # type: ignore[arg-type]
        assert doc.status == "running", doc.status
        assert doc.posts.first is not None
        return doc.posts.first

    return await assert_eventually(running, timeout=30)


async def test_an_awareness_campaign_pays_each_engagement_once(
    skipping_client: Client, sqlite_engine: Engine
) -> None:
    async with campaign_stack(skipping_client, sqlite_engine) as stack:
        stack.register("u1", "u2", "u3")
        campaign_id = stack.draft(awareness_spec())
        async with stack.worker():
            handle = await stack.publish(campaign_id)
            first = await first_post_of(stack, handle)
            await stack.engage(
                first,
                {"user_id": "u1", "kind": "like"},
                {"user_id": "u1", "kind": "repost"},
                {"user_id": "u2", "kind": "like"},
                {"user_id": "u2", "kind": "reply", "text": "love it"},
                {"user_id": "stranger", "kind": "like"},
            )
            doc = await outcome(handle)
        await record_history_if_asked(handle, "awareness-campaign")
        posts = await stack.posts()
        transfers = await stack.transfers()
    assert doc.status == "closed", doc.failure
    ours = [p for p in posts if p["author_id"] == OWNER_X_ID]
    assert len(ours) == 2
    assert ours[1]["in_reply_to_tweet_id"] == ours[0]["id"]
    payouts = {t["to"]: t["amount"] for t in transfers if t["kind"] == "payout"}
    assert payouts == {"wallet-u1": 40, "wallet-u2": 30}
    locked = sum(t["amount"] for t in transfers if t["kind"] == "lock")
    refunded = sum(t["amount"] for t in transfers if t["kind"] == "refund")
    assert locked == 1_000 and refunded == 930
    assert doc.rewards.paid == 2 and doc.rewards.ineligible == 1
    assert doc.engagement.likes == 3 and doc.engagement.unique_engagers == 3
    assert doc.budget.spent == 70 and doc.budget.refunded == 930
    kinds = [e.kind for e in stack.timeline(campaign_id)]
    assert kinds[0] == "publishing" and kinds[-1] == "closed"
    assert {"first_posted", "escrow_locked", "second_posted", "running"} <= set(kinds)
    row = stack.campaign(campaign_id)
    assert row.status == "closed" and row.last_status is not None
    assert row.last_status["rewards"]["paid_amount"] == 70


async def test_a_quest_pays_the_first_winners_with_the_answer(
    skipping_client: Client, sqlite_engine: Engine
) -> None:
    async with campaign_stack(skipping_client, sqlite_engine) as stack:
        stack.register("q1", "q2", "q3", "q4")
        campaign_id = stack.draft(quest_spec())
        async with stack.worker():
            handle = await stack.publish(campaign_id)
            first = await first_post_of(stack, handle)
            await stack.engage(
                first,
                {"user_id": "q1", "kind": "reply", "text": "is it red?"},
                {"user_id": "q2", "kind": "reply", "text": "BLUE   moon!"},
                {"user_id": "q3", "kind": "quote", "text": "bluemoon"},
                {"user_id": "q4", "kind": "reply", "text": "blue moon"},
            )
            doc = await outcome(handle)
        await record_history_if_asked(handle, "quest-campaign")
        transfers = await stack.transfers()
    assert doc.status == "closed", doc.failure
    payouts = sorted((t["to"], t["amount"]) for t in transfers if t["kind"] == "payout")
    assert len(payouts) == 2 and all(amount == 500 for _, amount in payouts)
    assert "wallet-q1" not in {to for to, _ in payouts}
    refunded = sum(t["amount"] for t in transfers if t["kind"] == "refund")
    assert refunded == 1


async def test_media_is_uploaded_and_processed_before_the_first_post(
    skipping_client: Client, sqlite_engine: Engine
) -> None:
    async with campaign_stack(skipping_client, sqlite_engine) as stack:
        media_url = f"{stack.base_url}/sandbox/media/banner.png"
        spec = awareness_spec(
            first_post={
                "text": "With a picture",
                "media": [{"url": media_url, "media_type": "image/png"}],
            }
        )
        campaign_id = stack.draft(spec)
        async with stack.worker():
            doc = await outcome(await stack.publish(campaign_id))
        posts = await stack.posts()
    assert doc.status == "closed", doc.failure
    first = next(p for p in posts if p["id"] == doc.posts.first)
    assert len(first["media_ids"]) == 1


async def test_media_that_fails_processing_fails_the_campaign_with_nothing_posted(
    skipping_client: Client, sqlite_engine: Engine
) -> None:
    async with campaign_stack(skipping_client, sqlite_engine) as stack:
        media_url = f"{stack.base_url}/sandbox/media/fail.png"
        spec = awareness_spec(
            first_post={"text": "Broken", "media": [{"url": media_url, "media_type": "image/png"}]}
        )
        campaign_id = stack.draft(spec)
        async with stack.worker():
            doc = await outcome(await stack.publish(campaign_id))
        posts = await stack.posts()
        transfers = await stack.transfers()
    assert doc.status == "failed"
    assert doc.failure is not None and "MediaProcessingFailed" in doc.failure
    assert posts == [] and transfers == []
    assert [e.kind for e in stack.timeline(campaign_id)][-1] == "failed"


async def test_a_second_campaign_with_a_live_campaigns_text_fails_fast_and_touches_nothing(
    skipping_client: Client, sqlite_engine: Engine
) -> None:
    async with campaign_stack(skipping_client, sqlite_engine) as stack:
        stack.register("u1")
        text = "Same words twice"
        first_id = stack.draft(awareness_spec(first_post={"text": text}))
        async with stack.worker():
            first = await stack.publish(first_id)
            first_post = await first_post_of(stack, first)
            second = await stack.publish(stack.draft(awareness_spec(first_post={"text": text})))
            refused = await outcome(second)
            await stack.engage(first_post, {"user_id": "u1", "kind": "like"})
            closed = await outcome(first)
        posts = await stack.posts()
    assert refused.status == "failed" and refused.failure is not None
    assert "DuplicateContent" in refused.failure and "change the campaign's text" in refused.failure
    assert refused.posts.first is None and refused.escrow.locked == 0
    # The other campaign's post was neither adopted nor deleted; it ran to its end.
    assert [p["id"] for p in posts if p["text"] == text and not p["deleted"]] == [first_post]
    assert closed.status == "closed" and closed.rewards.paid == 1


async def test_a_read_token_x_refuses_holds_the_campaign_until_fixed_and_resumed(
    skipping_client: Client, sqlite_engine: Engine, time_skipping_env: WorkflowEnvironment
) -> None:
    async with campaign_stack(skipping_client, sqlite_engine) as stack:
        stack.register("u1", "u2")
        campaign_id = stack.draft(awareness_spec())
        revoked = stack.app_token
        await stack.sandbox("POST", "/tokens/revoke", {"token": revoked})
        async with stack.worker():
            handle = await stack.publish(campaign_id)
            first = await first_post_of(stack, handle)
            await stack.engage(
                first, {"user_id": "u1", "kind": "like"}, {"user_id": "u2", "kind": "repost"}
            )
            await time_skipping_env.sleep(timedelta(seconds=61))  # to the first poll
            held = await assert_eventually(lambda: attention_of(handle), timeout=30)
            # The operator gets the token accepted again, then resumes the campaign.
            await stack.sandbox("POST", "/tokens/restore", {"token": revoked})
            await handle.signal("resume")
            doc = await outcome(handle)
        payouts = await stack.transfers("payout")
    assert held.status == "attention" and held.attention is not None
    assert "401" in held.attention.reason and "CAMPAIGNS_X_BEARER_TOKEN" in held.attention.reason
    assert doc.status == "closed" and {t["to"] for t in payouts} == {"wallet-u1", "wallet-u2"}
    kinds = [e.kind for e in stack.timeline(campaign_id)]
    assert kinds.index("attention") < kinds.index("resumed") < kinds.index("closed")
    assert stack.campaign(campaign_id).last_status["rewards"]["paid"] == 2  # type: ignore[index]


async def attention_of(handle: object) -> StatusDocument:
    doc = await status_of(handle)  # type: ignore[arg-type]
    assert doc.status == "attention", doc.status
    return doc
