"""The status document says what is failing and since when (from Temporal's pending
activities), and message refusals know every status a campaign can be in."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.asyncio.client import connect

from api.campaign_status import refusal
from api.schemas import AttentionPublic, StatusDocumentPublic
from tests.api.conftest import CAMPAIGN_BODY, Stack, eventually, new_owner
from tests.api.test_campaign_crud import KEYED
from tests.api.test_campaign_messages import refused, running_campaign, wait_for_status

OUTAGE = "X answered 503 Service Unavailable"


def assert_retrying_first_post(document: dict[str, Any], not_before: datetime) -> None:
    assert len(document["retrying"]) == 1, document
    [step] = document["retrying"]
    assert step["step"] == "publish_first_post", step
    assert step["attempt"] >= 2, step
    assert OUTAGE in step["reason"], step
    since = datetime.fromisoformat(step["since"])
    # When the step began failing: not a later attempt's (future) schedule.
    assert not_before - timedelta(seconds=1) <= since <= datetime.now(UTC), step


async def test_a_failing_step_shows_in_status_record_and_live_until_it_recovers(
    stack: Stack,
) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        draft = (await owner.post("/v1/campaigns", json=CAMPAIGN_BODY)).json()
        path = f"/v1/campaigns/{draft['id']}"
        stack.world.first_post_outages[draft["id"]] = OUTAGE
        published_at = datetime.now(UTC)
        assert (await owner.post(f"{path}/publish")).status_code == 202

        async def retrying() -> dict[str, Any]:
            document: dict[str, Any] = (await owner.get(f"{path}/status")).json()
            assert document["status"] == "publishing", document
            assert_retrying_first_post(document, published_at)
            return document

        document = await eventually(retrying)
        assert document["retrying"][0]["attempt"] >= 2
        assert_retrying_first_post((await owner.get(path)).json()["live"], published_at)
        async with connect(
            stack.url.replace("http://", "ws://") + path + "/live",
            additional_headers={"Authorization": f"Bearer {key}"},
        ) as socket:
            pushed = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert_retrying_first_post(pushed, published_at)

        del stack.world.first_post_outages[draft["id"]]

        async def running() -> dict[str, Any]:
            document: dict[str, Any] = (await owner.get(f"{path}/status")).json()
            assert document["status"] == "running", document
            return document

        recovered = await eventually(running, timeout=40)
        assert recovered["retrying"] == []
        assert recovered["posts"]["first"] is not None


async def test_a_campaign_held_in_attention_takes_only_resume(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        world = stack.world.world(path.rsplit("/", 1)[1])
        world.poll_error = "ReadRefused"
        # Closing's final engagement fetch is refused: the campaign waits for an operator.
        assert (await owner.post(f"{path}/cancel")).status_code == 202
        held = await wait_for_status(owner, path, "attention")
        assert "401 Unauthorized" in held["attention"]["reason"], held
        for suffix, body in [
            ("pause", {}),
            ("extend", {"closes_at": "2040-01-01T00:00:00Z"}),
            ("top-up", {"amount": 5}),
        ]:
            refused(
                await owner.post(f"{path}/{suffix}", json=body, headers=KEYED),
                "needs attention",
                "401 Unauthorized",
                "it takes only resume",
            )
        world.poll_error = None
        assert (await owner.post(f"{path}/resume")).status_code == 202
        closed = await wait_for_status(owner, path, "closed")
        assert closed["attention"] is None


def document(status: str, **fields: Any) -> StatusDocumentPublic:
    return StatusDocumentPublic(
        campaign_id="c1", workflow_id="campaign-c1", status=status, **fields
    )


ATTENTION = AttentionPublic(
    step="poll_engagement", reason="X rejects the read token", since=datetime.now(UTC)
)


@pytest.mark.parametrize("message", ["pause", "extend", "top_up"])
def test_attention_takes_only_resume_and_cancel(message: str) -> None:
    held = document("attention", attention=ATTENTION)
    reason = refusal(message, held)
    assert reason is not None
    assert "needs attention" in reason
    assert "X rejects the read token" in reason
    assert "resume" in reason


@pytest.mark.parametrize("message", ["resume", "cancel"])
def test_attention_lets_resume_and_cancel_through(message: str) -> None:
    assert refusal(message, document("attention", attention=ATTENTION)) is None
    assert refusal(message, document("attention")) is None


@pytest.mark.parametrize("message", ["pause", "resume", "cancel", "extend", "top_up"])
def test_compensating_takes_nothing(message: str) -> None:
    reason = refusal(message, document("compensating", failure="lock_escrow: refused"))
    assert reason is not None
    assert "undoing what was done" in reason
    assert "lock_escrow: refused" in reason
