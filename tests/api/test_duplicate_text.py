"""X refuses duplicate text from the same author, so the API refuses a draft (at create and
again at publish) whose post text is a post text of one of the owner's live campaigns."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.conftest import CAMPAIGN_BODY, Stack, new_owner
from tests.api.test_campaign_messages import refused, wait_for_status


def body_with(first: str, second: str) -> dict[str, Any]:
    return {**CAMPAIGN_BODY, "first_post": {"text": first}, "second_post": {"text": second}}


async def create(owner: httpx.AsyncClient, first: str, second: str) -> httpx.Response:
    return await owner.post("/v1/campaigns", json=body_with(first, second))


async def live_campaign(owner: httpx.AsyncClient, first: str, second: str) -> str:
    created = await create(owner, first, second)
    assert created.status_code == 201, created.text
    path = f"/v1/campaigns/{created.json()['id']}"
    assert (await owner.post(f"{path}/publish")).status_code == 202
    await wait_for_status(owner, path, "running")
    return path


def texts() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"We launched {tag}!", f"Terms {tag}: once per person and kind."


async def test_a_draft_repeating_a_live_campaigns_text_is_refused_at_create(
    stack: Stack,
) -> None:
    _, key = await new_owner(stack)
    _, other_key = await new_owner(stack, "Other")
    first, second = texts()
    async with stack.client(key) as owner, stack.client(other_key) as other:
        path = await live_campaign(owner, first, second)
        live_id = path.rsplit("/", 1)[1]
        for new_first, new_second in (
            (first, "fresh terms"),
            ("fresh launch", second),
            (second, "fresh terms"),
            ("fresh launch", first),
        ):
            response = await create(owner, new_first, new_second)
            refused(response, "X refuses duplicate text from the same author", live_id)
            assert response.json()["campaign_id"] == live_id
        assert (await create(owner, "fresh launch", "fresh terms")).status_code == 201
        # Another owner posts as another author.
        assert (await create(other, first, second)).status_code == 201

        assert (await owner.post(f"{path}/cancel")).status_code == 202
        await wait_for_status(owner, path, "closed")
        # A finished campaign's posts no longer stand in the way.
        assert (await create(owner, first, second)).status_code == 201


async def test_two_drafts_with_one_text_are_allowed_until_one_goes_live(stack: Stack) -> None:
    _, key = await new_owner(stack)
    first, second = texts()
    async with stack.client(key) as owner:
        drafts = [await create(owner, first, f"{second} ({n})") for n in range(2)]
        assert [d.status_code for d in drafts] == [201, 201]
        earlier, later = (f"/v1/campaigns/{d.json()['id']}" for d in drafts)
        assert (await owner.post(f"{earlier}/publish")).status_code == 202
        await wait_for_status(owner, earlier, "running")
        refused(await owner.post(f"{later}/publish"), "X refuses duplicate text", "first post")
        assert (await owner.get(f"{later}/status")).json()["status"] == "draft"
        # Publishing the live one again is the same run, not a duplicate of itself.
        assert (await owner.post(f"{earlier}/publish")).status_code == 202


async def test_a_draft_whose_two_posts_share_their_text_is_refused(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        response = await create(owner, "same words", "same words")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "second_post.text" in [e["field"] for e in response.json()["errors"]]
    assert "X refuses duplicate text" in response.json()["detail"]
