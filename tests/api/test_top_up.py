"""Top-up through the API, idempotent end to end: the client's ``Idempotency-Key`` is the
update ID and the ledger key, so a retry (even a concurrent one) locks once; a top-up slower
than the request answers 202 and ``GET /top-ups/{key}`` gives its outcome. Counted at the
stand-in ledger, against the real ``CampaignWorkflow``."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from pydantic import TypeAdapter
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.contracts import TopUpRequest, workflow_id_for
from core.temporal import DATA_CONVERTER
from tests.api.conftest import Stack, eventually, new_owner
from tests.api.test_campaign_messages import refused, running_campaign, wait_for_status
from tests.helpers import serve_asgi


def new_key() -> str:
    return f"top-up-{uuid.uuid4()}"


async def top_up(
    owner: httpx.AsyncClient, path: str, amount: int, key: str | bytes | None
) -> httpx.Response:
    # Bytes: a key outside ASCII is sent as it is, for the API to refuse.
    raw = key.encode() if isinstance(key, str) else key
    headers = {b"Idempotency-Key": raw} if raw is not None else {}
    return await owner.post(f"{path}/top-up", json={"amount": amount}, headers=headers)


def locked(stack: Stack, path: str) -> int:
    return stack.world.world(path.rsplit("/", 1)[1]).locked


def lock_count(stack: Stack, path: str) -> int:
    return len(stack.world.top_up_locks[path.rsplit("/", 1)[1]])


def done(response: httpx.Response, key: str, budget: int) -> None:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert (body["key"], body["state"], body["budget"]) == (key, "done", budget), body


async def accepted_top_ups(env: WorkflowEnvironment, path: str) -> list[tuple[str, TopUpRequest]]:
    """(update ID, request) of every top-up the workflow accepted, read from its history."""
    handle = env.client.get_workflow_handle(workflow_id_for(path.rsplit("/", 1)[1]))
    found: list[tuple[str, TopUpRequest]] = []
    async for event in handle.fetch_history_events():
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            continue
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        if request.input.name != "top_up":
            continue
        [payload] = await DATA_CONVERTER.decode(request.input.args.payloads, [TopUpRequest])
        found.append((request.meta.update_id, TypeAdapter(TopUpRequest).validate_python(payload)))
    return found


async def test_a_missing_or_malformed_idempotency_key_is_refused_naming_the_header(
    stack: Stack,
) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        for bad in (None, "", "has space", "x" * 101, "ключ".encode(), "a/b", "a?b", "a,b"):
            response = await top_up(owner, path, 500, bad)
            assert 400 <= response.status_code < 500, (bad, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert "Idempotency-Key" in response.json()["detail"], (bad, response.json())
        assert lock_count(stack, path) == 0
        assert (await owner.get(f"{path}/status")).json()["budget"]["total"] == 1_000
        done(await top_up(owner, path, 1, "Az09-_.:" + "x" * 92), "Az09-_.:" + "x" * 92, 1_001)


async def test_a_retried_top_up_locks_once_and_a_new_key_locks_again(
    stack: Stack, dev_env: WorkflowEnvironment
) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        first = new_key()
        done(await top_up(owner, path, 500, first), first, 1_500)
        done(await top_up(owner, path, 500, first), first, 1_500)
        assert (lock_count(stack, path), locked(stack, path)) == (1, 1_500)

        concurrent = new_key()
        answers = await asyncio.gather(*(top_up(owner, path, 200, concurrent) for _ in range(4)))
        for answer in answers:
            done(answer, concurrent, 1_700)
        assert (lock_count(stack, path), locked(stack, path)) == (2, 1_700)

        third = new_key()
        done(await top_up(owner, path, 300, third), third, 2_000)
        assert (lock_count(stack, path), locked(stack, path)) == (3, 2_000)
        assert (await owner.get(f"{path}/status")).json()["budget"]["total"] == 2_000
        for top_up_key, budget in ((first, 1_500), (concurrent, 1_700), (third, 2_000)):
            done(await owner.get(f"{path}/top-ups/{top_up_key}"), top_up_key, budget)
    # The key went to the workflow as the update ID and inside the request.
    assert await accepted_top_ups(dev_env, path) == [
        (first, TopUpRequest(amount=500, key=first)),
        (concurrent, TopUpRequest(amount=200, key=concurrent)),
        (third, TopUpRequest(amount=300, key=third)),
    ]


async def test_a_slow_top_up_answers_202_and_its_outcome_is_read_later(stack: Stack) -> None:
    _, key = await new_owner(stack)
    headers = {"Authorization": f"Bearer {key}"}
    impatient = create_app(stack.settings, top_up_wait=0.3)
    async with (
        serve_asgi(impatient) as url,
        httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as owner,
    ):
        path = await running_campaign(owner)
        campaign_id = path.rsplit("/", 1)[1]
        gate = stack.world.lock_gates[campaign_id] = asyncio.Event()
        slow = new_key()
        started = await top_up(owner, path, 500, slow)
        assert started.status_code == 202, started.text
        outcome_path = f"{path}/top-ups/{slow}"
        assert started.headers["location"] == outcome_path
        assert started.json() == {
            "key": slow,
            "state": "in_progress",
            "budget": None,
            "outcome": outcome_path,
        }
        going = await owner.get(outcome_path)
        assert going.status_code == 202, going.text
        assert going.json()["state"] == "in_progress"
        # A retry while it is still going attaches to the same top-up.
        again = await top_up(owner, path, 500, slow)
        assert again.status_code == 202, again.text
        assert lock_count(stack, path) == 1

        gate.set()

        async def finished() -> None:
            done(await owner.get(outcome_path), slow, 1_500)

        await eventually(finished)
        done(await top_up(owner, path, 500, slow), slow, 1_500)
        assert (lock_count(stack, path), locked(stack, path)) == (1, 1_500)
        missing = await owner.get(f"{path}/top-ups/{new_key()}")
        assert missing.status_code == 404, missing.text
        assert missing.headers["content-type"] == "application/problem+json"
        malformed = await owner.get(f"{path}/top-ups/has space")
        assert malformed.status_code == 422, malformed.text


async def test_a_refused_or_failed_top_up_is_a_409_with_the_reason(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        overflowing = new_key()
        too_much = await top_up(owner, path, 2**63 - 1, overflowing)
        refused(too_much, "budget")
        assert lock_count(stack, path) == 0
        # A refused update leaves nothing behind to read.
        assert (await owner.get(f"{path}/top-ups/{overflowing}")).status_code == 404

        stack.world.lock_refusals[path.rsplit("/", 1)[1]] = "the owner's wallet holds too little"
        poor = new_key()
        refused(await top_up(owner, path, 500, poor), "the owner's wallet holds too little")
        refused(await owner.get(f"{path}/top-ups/{poor}"), "the owner's wallet holds too little")
        document = (await owner.get(f"{path}/status")).json()
        assert (document["status"], document["budget"]["total"]) == ("running", 1_000)


async def test_a_retry_after_the_campaign_closed_still_returns_the_first_result(
    stack: Stack,
) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        before_close = new_key()
        done(await top_up(owner, path, 500, before_close), before_close, 1_500)
        assert (await owner.post(f"{path}/cancel")).status_code == 202
        await wait_for_status(owner, path, "closed")
        done(await top_up(owner, path, 500, before_close), before_close, 1_500)
        done(await owner.get(f"{path}/top-ups/{before_close}"), before_close, 1_500)
        refused(await top_up(owner, path, 500, new_key()), "is closed")
        assert lock_count(stack, path) == 1
