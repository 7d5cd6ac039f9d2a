"""Owners, participants, drafts, the list, the record, publish and status over real HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.contracts import workflow_id_for
from tests.api.conftest import CAMPAIGN_BODY, Stack, eventually, new_owner

# Harmless on every route; the top-up route needs it to get as far as the ownership check.
KEYED = {"Idempotency-Key": "k-1"}


async def create_draft(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await client.post("/v1/campaigns", json={**CAMPAIGN_BODY, **changes})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_operator_creates_owner_whose_key_works_once_shown(stack: Stack) -> None:
    owner_id, key = await new_owner(stack, "Ada")
    assert key.startswith("ck_")
    async with stack.client(key) as owner:
        draft = await create_draft(owner)
    assert draft["owner_id"] == owner_id
    assert draft["status"] == "draft"
    assert draft["rewards"] == CAMPAIGN_BODY["rewards"]
    for field in ("id", "created_at", "updated_at"):
        assert draft[field]


async def test_owner_response_never_returns_the_x_token(stack: Stack) -> None:
    response = await stack.operator.post(
        "/v1/owners",
        json={"name": "T", "x_user_id": "1", "x_access_token": "secret-x", "wallet": "w"},
    )
    assert response.status_code == 201
    assert "secret-x" not in response.text


async def test_missing_or_wrong_key_is_401_problem(stack: Stack) -> None:
    for key in (None, "ck_wrong"):
        async with stack.client(key) as client:
            response = await client.get("/v1/campaigns")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_only_the_operator_manages_owners_and_participants(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        owners = await owner.post("/v1/owners", json={"name": "x", "x_user_id": "1", "wallet": "w"})
        participants = await owner.post(
            "/v1/participants", json={"participants": [{"x_user_id": "1", "wallet": "w"}]}
        )
    assert owners.status_code == 403
    assert participants.status_code == 403
    assert owners.headers["content-type"] == "application/problem+json"


async def test_participants_upsert_keeps_the_last_wallet(stack: Stack) -> None:
    first = await stack.operator.post(
        "/v1/participants",
        json={"participants": [{"x_user_id": f"p{i}", "wallet": f"w{i}"} for i in range(1200)]},
    )
    assert first.status_code == 200, first.text
    assert first.json() == {"upserted": 1200}
    again = await stack.operator.post(
        "/v1/participants",
        json={
            "participants": [
                {"x_user_id": "p1", "wallet": "new"},
                {"x_user_id": "p9999", "wallet": "w"},
            ]
        },
    )
    assert again.json() == {"upserted": 2}
    too_many = await stack.operator.post(
        "/v1/participants",
        json={"participants": [{"x_user_id": str(i), "wallet": "w"} for i in range(10_001)]},
    )
    assert too_many.status_code == 422
    assert "participants" in too_many.json()["detail"]


async def test_invalid_draft_is_422_naming_the_field(stack: Stack) -> None:
    _, key = await new_owner(stack)
    cases: dict[str, dict[str, Any]] = {
        "first_post.text": {"first_post": {"text": "x" * 281}},
        "budget": {"budget": 0},
        "duration_seconds": {"duration_seconds": 5},
        "first_post.media.0.media_type": {
            "first_post": {"text": "t", "media": [{"url": "https://e.com/a", "media_type": "x/y"}]}
        },
    }
    async with stack.client(key) as owner:
        for field, change in cases.items():
            response = await owner.post("/v1/campaigns", json={**CAMPAIGN_BODY, **change})
            assert response.status_code == 422, field
            problem = response.json()
            assert response.headers["content-type"] == "application/problem+json"
            assert field in [e["field"] for e in problem["errors"]], problem
            assert field in problem["detail"]
        too_small = await owner.post(
            "/v1/campaigns", json={**CAMPAIGN_BODY, "budget": 5, "rewards": {"like": 10}}
        )
    assert too_small.status_code == 422
    assert "budget does not cover a single reward" in too_small.json()["detail"]


async def test_another_owners_campaign_is_404_everywhere(stack: Stack) -> None:
    _, alice_key = await new_owner(stack, "Alice")
    bob_id, bob_key = await new_owner(stack, "Bob")
    async with stack.client(alice_key) as alice, stack.client(bob_key) as bob:
        draft = await create_draft(alice)
        path = f"/v1/campaigns/{draft['id']}"
        for method, suffix, body in [
            ("GET", "", None),
            ("GET", "/status", None),
            ("GET", "/timeline", None),
            ("POST", "/publish", {}),
            ("POST", "/pause", {}),
            ("POST", "/resume", {}),
            ("POST", "/cancel", {}),
            ("POST", "/extend", {"closes_at": "2040-01-01T00:00:00Z"}),
            ("POST", "/top-up", {"amount": 5}),
            ("GET", "/top-ups/k-1", None),
        ]:
            response = await bob.request(method, path + suffix, json=body, headers=KEYED)
            assert response.status_code == 404, (suffix, response.text)
            assert response.json()["detail"] == f"campaign {draft['id']} not found"
        bobs_list = (await bob.get("/v1/campaigns")).json()
        assert draft["id"] not in [c["id"] for c in bobs_list["items"]]
        snooping = (await bob.get("/v1/campaigns", params={"owner_id": draft["owner_id"]})).json()
        assert snooping["total"] == 0
        assert (await stack.operator.get(path)).status_code == 200
        # An owner cannot create drafts for another owner either.
        foreign = await alice.post("/v1/campaigns", params={"owner_id": bob_id}, json=CAMPAIGN_BODY)
        assert foreign.status_code == 404


async def test_operator_creates_for_a_named_owner(stack: Stack) -> None:
    owner_id, _ = await new_owner(stack)
    missing = await stack.operator.post("/v1/campaigns", json=CAMPAIGN_BODY)
    assert missing.status_code == 422
    assert "owner_id" in missing.json()["detail"]
    unknown = await stack.operator.post(
        "/v1/campaigns", params={"owner_id": "nobody"}, json=CAMPAIGN_BODY
    )
    assert unknown.status_code == 404
    created = await stack.operator.post(
        "/v1/campaigns", params={"owner_id": owner_id}, json=CAMPAIGN_BODY
    )
    assert created.status_code == 201
    assert created.json()["owner_id"] == owner_id


async def test_list_filters_paginates_newest_first(stack: Stack) -> None:
    owner_id, key = await new_owner(stack)
    async with stack.client(key) as owner:
        made = [await create_draft(owner, name=f"c{i}") for i in range(5)]
        quest = await create_draft(
            owner, name="q", type="quest", rewards=None, quest={"answer": "42", "winners": 2}
        )
        page1 = (await owner.get("/v1/campaigns", params={"page_size": 4})).json()
        page2 = (await owner.get("/v1/campaigns", params={"page_size": 4, "page": 2})).json()
        quests = (await owner.get("/v1/campaigns", params={"type": "quest"})).json()
        drafts = (await owner.get("/v1/campaigns", params={"status": "draft"})).json()
        running = (await owner.get("/v1/campaigns", params={"status": "running"})).json()
        bad = await owner.get("/v1/campaigns", params={"status": "nonsense"})
    newest_first = [quest["id"]] + [c["id"] for c in reversed(made)]
    assert [c["id"] for c in page1["items"] + page2["items"]] == newest_first
    assert (page1["total"], page1["page"], page1["page_size"]) == (6, 1, 4)
    assert [c["id"] for c in quests["items"]] == [quest["id"]]
    assert drafts["total"] == 6
    assert running["total"] == 0
    assert bad.status_code == 422
    assert "status" in bad.json()["detail"]
    by_owner = (await stack.operator.get("/v1/campaigns", params={"owner_id": owner_id})).json()
    assert by_owner["total"] == 6


async def test_draft_record_status_and_timeline(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        draft = await create_draft(owner)
        record = (await owner.get(f"/v1/campaigns/{draft['id']}")).json()
        status = (await owner.get(f"/v1/campaigns/{draft['id']}/status")).json()
        timeline = (await owner.get(f"/v1/campaigns/{draft['id']}/timeline")).json()
    assert record["live"]["status"] == "draft"
    assert status["workflow_id"] == workflow_id_for(draft["id"])
    assert status["budget"] == {"total": 1000, "spent": 0, "refunded": 0, "remaining": 1000}
    assert [(e["seq"], e["kind"], e["status"]) for e in timeline["events"]] == [
        (0, "created", "draft")
    ]


async def test_concurrent_publishes_return_the_same_run(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        draft = await create_draft(owner)
        path = f"/v1/campaigns/{draft['id']}"
        first, second = await asyncio.gather(
            owner.post(f"{path}/publish"), owner.post(f"{path}/publish", json={})
        )
        assert first.status_code == second.status_code == 202, (first.text, second.text)
        assert first.json() == second.json()
        assert first.json()["workflow_id"] == workflow_id_for(draft["id"])
        third = await owner.post(f"{path}/publish")
        assert third.json() == first.json()

        async def running() -> dict[str, Any]:
            status: dict[str, Any] = (await owner.get(f"{path}/status")).json()
            assert status["status"] == "running", status
            return status

        status = await eventually(running)
        assert status["published_at"] is not None
        record = (await owner.get(path)).json()
        assert record["run_id"] == first.json()["run_id"]
        assert record["live"]["status"] == "running"


async def test_scheduled_publish_then_cancel_ends_cancelled_and_cannot_rerun(
    stack: Stack,
) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        draft = await create_draft(owner)
        path = f"/v1/campaigns/{draft['id']}"
        start_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        published = await owner.post(f"{path}/publish", json={"start_at": start_at})
        assert published.status_code == 202

        async def status_is(expected: str) -> None:
            assert (await owner.get(f"{path}/status")).json()["status"] == expected

        await eventually(lambda: status_is("scheduled"))
        assert (
            await owner.post(f"{path}/cancel", json={"reason": "changed plans"})
        ).status_code == 202
        await eventually(lambda: status_is("cancelled"))
        again = await owner.post(f"{path}/publish")
        assert again.status_code == 409
        assert "cancelled" in again.json()["detail"]
        naive = await owner.post(f"{path}/publish", json={"start_at": "2030-01-01T00:00:00"})
        assert naive.status_code == 422
        assert "start_at" in naive.json()["detail"]
