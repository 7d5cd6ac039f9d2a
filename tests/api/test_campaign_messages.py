"""Signals and updates through the API: state checks first, validator refusals, no 500s."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.config import Settings
from core.contracts import workflow_id_for
from tests.api.conftest import CAMPAIGN_BODY, Stack, eventually, new_owner
from tests.api.test_campaign_crud import KEYED
from tests.helpers import serve_asgi


async def running_campaign(owner: httpx.AsyncClient) -> str:
    draft = (await owner.post("/v1/campaigns", json=CAMPAIGN_BODY)).json()
    path = f"/v1/campaigns/{draft['id']}"
    assert (await owner.post(f"{path}/publish")).status_code == 202
    await wait_for_status(owner, path, "running")
    return path


async def wait_for_status(owner: httpx.AsyncClient, path: str, expected: str) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        document: dict[str, Any] = (await owner.get(f"{path}/status")).json()
        assert document["status"] == expected, document
        return document

    return await eventually(check)


def statuses_in_turn(events: list[dict[str, Any]]) -> list[str]:
    """The statuses the timeline went through, a repeat (a note in the same status) once."""
    seen: list[str] = []
    for event in events:
        if not seen or seen[-1] != event["status"]:
            seen.append(event["status"])
    return seen


def refused(response: httpx.Response, *fragments: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    for fragment in fragments:
        assert fragment in detail, detail


async def test_messages_to_a_draft_are_refused(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        draft = (await owner.post("/v1/campaigns", json=CAMPAIGN_BODY)).json()
        path = f"/v1/campaigns/{draft['id']}"
        for suffix, body in [
            ("pause", {}),
            ("resume", {}),
            ("cancel", {}),
            ("extend", {"closes_at": "2040-01-01T00:00:00Z"}),
            ("top-up", {"amount": 5}),
        ]:
            refused(
                await owner.post(f"{path}/{suffix}", json=body, headers=KEYED),
                "is a draft; publish it first",
            )


async def test_pause_resume_follow_the_state(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        refused(await owner.post(f"{path}/resume"), "is not paused (it is running)")
        paused = await owner.post(f"{path}/pause", json={"reason": "brand review"})
        assert paused.status_code == 202
        assert paused.json()["signal"] == "pause"
        assert paused.json()["reason"] == "brand review"
        document = await wait_for_status(owner, path, "paused")
        assert document["paused"] is True
        refused(await owner.post(f"{path}/pause"), "already paused")
        assert (await owner.post(f"{path}/resume")).status_code == 202
        await wait_for_status(owner, path, "running")
        timeline = (await owner.get(f"{path}/timeline")).json()["events"]
        assert [e["seq"] for e in timeline] == list(range(len(timeline)))
        assert statuses_in_turn(timeline) == ["draft", "publishing", "running", "paused", "running"]


async def test_extend_and_top_up_return_results_or_the_validators_reason(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        current = (await owner.get(f"{path}/status")).json()["closes_at"]
        earlier = datetime.fromisoformat(current) - timedelta(minutes=5)
        refused(
            await owner.post(f"{path}/extend", json={"closes_at": earlier.isoformat()}),
            "closes_at must be later than the current end",
        )
        later = datetime.fromisoformat(current) + timedelta(hours=2)
        extended = await owner.post(f"{path}/extend", json={"closes_at": later.isoformat()})
        assert extended.status_code == 200, extended.text
        assert datetime.fromisoformat(extended.json()["closes_at"]) == later
        document = (await owner.get(f"{path}/status")).json()
        assert datetime.fromisoformat(document["closes_at"]) == later

        topped = await owner.post(f"{path}/top-up", json={"amount": 500}, headers=KEYED)
        assert topped.status_code == 200, topped.text
        assert topped.json() == {
            "key": "k-1",
            "state": "done",
            "budget": 1500,
            "outcome": f"{path}/top-ups/k-1",
        }
        zero = await owner.post(f"{path}/top-up", json={"amount": 0}, headers=KEYED)
        assert zero.status_code == 422
        assert "amount" in zero.json()["detail"]
        naive = await owner.post(f"{path}/extend", json={"closes_at": "2040-01-01T00:00:00"})
        assert naive.status_code == 422


async def test_after_cancel_every_message_is_refused_and_status_comes_from_the_row(
    stack: Stack,
) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        assert (await owner.post(f"{path}/cancel", json={"reason": "done"})).status_code == 202
        closed = await wait_for_status(owner, path, "closed")
        assert closed["closed_at"] is not None
        for suffix, body in [
            ("pause", {}),
            ("resume", {}),
            ("cancel", {}),
            ("extend", {"closes_at": "2040-01-01T00:00:00Z"}),
            ("top-up", {"amount": 5}),
        ]:
            refused(await owner.post(f"{path}/{suffix}", json=body, headers=KEYED), "is closed")
        refused(await owner.post(f"{path}/publish"), "cannot run again")
        listed = (await owner.get("/v1/campaigns", params={"status": "closed"})).json()
        assert [c["status"] for c in listed["items"]] == ["closed"]


async def test_a_terminated_workflow_is_a_409_not_a_500(
    stack: Stack, dev_env: WorkflowEnvironment
) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        campaign_id = path.rsplit("/", 1)[1]
        # Killed behind the API's back: the row still says running.
        await dev_env.client.get_workflow_handle(workflow_id_for(campaign_id)).terminate("test")
        document = await wait_for_status(owner, path, "failed")
        assert document["failure"] == "workflow execution terminated"
        refused(await owner.post(f"{path}/pause"), "is failed")
        refused(await owner.post(f"{path}/publish"), "is failed; it cannot run again")


async def test_temporal_unreachable_is_503_and_drafts_still_answer(
    stack: Stack,
) -> None:
    settings = Settings(
        database_url=stack.settings.database_url,
        temporal_address="127.0.0.1:1",
        operator_api_key="operator-test-key",
    )
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        other_texts = {"first_post": {"text": "Soon!"}, "second_post": {"text": "Terms soon."}}
        draft = (await owner.post("/v1/campaigns", json={**CAMPAIGN_BODY, **other_texts})).json()
        running = await running_campaign(owner)
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        serve_asgi(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as cut_off,
    ):
        assert (await cut_off.get("/healthz")).json() == {"status": "ok"}
        ready = await cut_off.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"temporal": "down", "database": "ok"}
        assert "temporal" in ready.json()["detail"]
        publish = await cut_off.post(f"/v1/campaigns/{draft['id']}/publish")
        assert publish.status_code == 503
        assert "127.0.0.1:1 is unreachable" in publish.json()["detail"]
        assert (await cut_off.get(f"/v1/campaigns/{draft['id']}/status")).json()["status"] == (
            "draft"
        )
        # A reader gets the last recorded document, marked as such; a message is a 503.
        recorded = await cut_off.get(f"{running}/status")
        assert recorded.status_code == 200, recorded.text
        assert recorded.json()["source"] == "recorded"
        assert recorded.json()["status"] == "running"
        assert recorded.headers["Campaign-Status-Source"] == "recorded"
        paused = await cut_off.post(f"{running}/pause")
        assert paused.status_code == 503
        assert paused.headers["Retry-After"] == "1"
        # The record still answers, with the last recorded status.
        record = await cut_off.get(running)
        assert record.status_code == 200
        assert record.json()["live"]["status"] == "running"


async def test_readyz_names_a_database_that_is_down(stack: Stack) -> None:
    settings = Settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        temporal_address=stack.settings.temporal_address,
    )
    async with serve_asgi(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        ready = await client.get("/readyz")
        healthy = await client.get("/healthz")
        ok = await stack.operator.get("/readyz")
    assert healthy.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"temporal": "ok", "database": "down"}
    assert ok.status_code == 200
    assert ok.json() == {"status": "ready", "checks": {"temporal": "ok", "database": "ok"}}
