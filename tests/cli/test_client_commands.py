"""The CLI's client commands against the API over real HTTP (stand-in workflow, dev server).

The CLI is synchronous; it runs on a thread so the in-process server keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from typer.testing import CliRunner, Result

from api.live import LiveHub
from api.main import create_app
from cli.main import app
from core.config import Settings
from tests.api.conftest import CAMPAIGN_BODY, Stack, eventually, new_owner
from tests.api.conftest import stack as stack
from tests.api.test_campaign_messages import running_campaign, wait_for_status
from tests.helpers import serve_asgi


async def campaigns(stack: Stack, key: str, *args: str, url: str | None = None) -> Result:
    argv = [*args, "--api-url", url or stack.url, "--api-key", key]
    return await asyncio.to_thread(lambda: CliRunner().invoke(app, argv))


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


async def test_a_campaign_driven_through_the_cli(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        draft = (
            await owner.post("/v1/campaigns", json={**CAMPAIGN_BODY, "name": "Cli week"})
        ).json()
        campaign_id = draft["id"]
        path = f"/v1/campaigns/{campaign_id}"

        listed = await campaigns(stack, key, "list")
        assert listed.exit_code == 0
        assert "Cli week" in listed.stdout
        assert "campaigns 1-1 of 1" in listed.stdout
        assert [
            c["id"] for c in as_json(await campaigns(stack, key, "list", "--json"))["items"]
        ] == [campaign_id]
        assert (
            as_json(await campaigns(stack, key, "list", "--status", "running", "--json"))["total"]
            == 0
        )

        published = as_json(await campaigns(stack, key, "publish", campaign_id, "--json"))
        assert published["workflow_id"] == f"campaign-{campaign_id}"
        again = await campaigns(stack, key, "publish", campaign_id)
        assert published["run_id"] in again.stdout
        await wait_for_status(owner, path, "running")

        shown = await campaigns(stack, key, "show", campaign_id)
        assert shown.exit_code == 0
        assert "Cli week" in shown.stdout
        assert "running" in shown.stdout
        assert (
            as_json(await campaigns(stack, key, "status", campaign_id, "--json"))["status"]
            == "running"
        )

        paused = await campaigns(stack, key, "pause", campaign_id, "--reason", "review")
        assert paused.exit_code == 0, paused.stderr
        assert "sent pause" in paused.stdout
        await wait_for_status(owner, path, "paused")
        refused = await campaigns(stack, key, "pause", campaign_id)
        assert refused.exit_code == 1
        assert "Conflict (409)" in refused.stderr
        assert "already paused" in refused.stderr
        assert (await campaigns(stack, key, "resume", campaign_id)).exit_code == 0
        await wait_for_status(owner, path, "running")

        # CliRunner swaps sys.stdout, so only one CLI runs at a time: cancel over HTTP while
        # `watch` follows the live socket.
        watching = asyncio.create_task(campaigns(stack, key, "watch", campaign_id, "--json"))
        await eventually(lambda: _subscribed(stack, campaign_id))
        assert (await owner.post(f"{path}/cancel")).status_code == 202
        watched = await asyncio.wait_for(watching, 30)
        assert watched.exit_code == 0, watched.stderr
        statuses = [json.loads(line)["status"] for line in watched.stdout.splitlines()]
        assert statuses[0] == "running"
        assert statuses[-1] == "closed"
        late = await campaigns(stack, key, "cancel", campaign_id)
        assert late.exit_code == 1
        assert "is closed" in late.stderr

        drawn = await campaigns(stack, key, "watch", campaign_id)
        assert drawn.exit_code == 0, drawn.stderr
        assert f"campaign {campaign_id} ended closed" in drawn.stdout


async def test_refusals_exit_non_zero_with_the_apis_reason(stack: Stack) -> None:
    _, alice_key = await new_owner(stack, "Alice")
    _, bob_key = await new_owner(stack, "Bob")
    async with stack.client(alice_key) as alice:
        draft = (await alice.post("/v1/campaigns", json=CAMPAIGN_BODY)).json()
    wrong = await campaigns(stack, "ck_wrong", "list")
    assert wrong.exit_code == 1
    assert "Unauthorized (401): unknown or revoked API key" in wrong.stderr
    foreign = await campaigns(stack, bob_key, "show", draft["id"])
    assert foreign.exit_code == 1
    assert f"campaign {draft['id']} not found" in foreign.stderr
    draft_pause = await campaigns(stack, alice_key, "pause", draft["id"])
    assert draft_pause.exit_code == 1
    assert "publish it first" in draft_pause.stderr
    async with stack.client(alice_key) as alice:
        published = await alice.post(f"/v1/campaigns/{draft['id']}/publish")
        assert published.status_code == 202
        await wait_for_status(alice, f"/v1/campaigns/{draft['id']}", "running")
    cancelled = await campaigns(stack, alice_key, "cancel", draft["id"], "--json")
    assert as_json(cancelled)["signal"] == "cancel"
    foreign_watch = await campaigns(stack, bob_key, "watch", draft["id"])
    assert foreign_watch.exit_code == 1
    assert "4404" in foreign_watch.stderr


async def _subscribed(stack: Stack, campaign_id: str) -> None:
    hub: LiveHub = stack.app.state.live_hub
    assert campaign_id in hub.pollers()


def printed_key(result: Result) -> str:
    found = re.search(r"idempotency key: (\S+)", result.stdout)
    assert found, result.stdout
    return found.group(1)


async def test_top_up_sends_a_key_and_a_retry_with_it_locks_once(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        campaign_id = path.rsplit("/", 1)[1]
        locks = stack.world.top_up_locks[campaign_id]

        made = await campaigns(stack, key, "top-up", campaign_id, "500")
        assert made.exit_code == 0, (made.stdout, made.stderr)
        made_key = printed_key(made)
        assert uuid.UUID(made_key).version == 4
        assert "budget is now 1500" in made.stdout
        again = await campaigns(stack, key, "top-up", campaign_id, "500", "--key", made_key)
        assert again.exit_code == 0, again.stderr
        assert printed_key(again) == made_key
        assert "budget is now 1500" in again.stdout
        assert [lock.amount for lock in locks] == [500]

        scripted = as_json(
            await campaigns(stack, key, "top-up", campaign_id, "250", "--key", "k-1", "--json")
        )
        assert (scripted["key"], scripted["state"], scripted["budget"]) == ("k-1", "done", 1750)
        assert [lock.amount for lock in locks] == [500, 250]
        bad_key = await campaigns(stack, key, "top-up", campaign_id, "5", "--key", "no spaces")
        assert bad_key.exit_code == 1
        assert "Idempotency-Key" in bad_key.stderr
        assert len(locks) == 2


async def test_a_slow_top_up_says_where_to_read_its_outcome(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with serve_asgi(create_app(stack.settings, top_up_wait=0.3)) as impatient:
        async with stack.client(key) as owner:
            path = await running_campaign(owner)
        campaign_id = path.rsplit("/", 1)[1]
        gate = stack.world.lock_gates[campaign_id] = asyncio.Event()
        going = await campaigns(stack, key, "top-up", campaign_id, "500", url=impatient)
        assert going.exit_code == 0, (going.stdout, going.stderr)
        going_key = printed_key(going)
        assert "still going" in going.stdout
        assert f"{path}/top-ups/{going_key}" in going.stdout
        assert f"--key {going_key}" in going.stdout
        gate.set()

        async def locked() -> None:
            async with stack.client(key) as owner:
                outcome = await owner.get(f"{path}/top-ups/{going_key}")
            assert outcome.status_code == 200, outcome.text

        await eventually(locked)
        retried = await campaigns(
            stack, key, "top-up", campaign_id, "500", "--key", going_key, url=impatient
        )
        assert retried.exit_code == 0, retried.stderr
        assert "budget is now 1500" in retried.stdout
        assert len(stack.world.top_up_locks[campaign_id]) == 1


async def test_extend_moves_the_end_or_prints_the_validators_reason(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        campaign_id = path.rsplit("/", 1)[1]
        current = datetime.fromisoformat((await owner.get(f"{path}/status")).json()["closes_at"])
        later = current + timedelta(hours=2)
        extended = await campaigns(stack, key, "extend", campaign_id, later.isoformat())
        assert extended.exit_code == 0, (extended.stdout, extended.stderr)
        assert f"{campaign_id} now ends {later.isoformat()}" in extended.stdout
        document = (await owner.get(f"{path}/status")).json()
        assert datetime.fromisoformat(document["closes_at"]) == later
        earlier = await campaigns(stack, key, "extend", campaign_id, current.isoformat())
        assert earlier.exit_code == 1
        assert "Conflict (409)" in earlier.stderr
        assert "later than the current end" in earlier.stderr
        nonsense = await campaigns(stack, key, "extend", campaign_id, "next tuesday")
        assert nonsense.exit_code == 1
        assert "closes_at" in nonsense.stderr


async def test_a_top_up_that_cannot_be_sent_says_the_key_retries_safely(stack: Stack) -> None:
    _, key = await new_owner(stack)
    cut_off = Settings(
        database_url=stack.settings.database_url,
        temporal_address="127.0.0.1:1",
        operator_api_key="operator-test-key",
    )
    async with serve_asgi(create_app(cut_off)) as url:
        async with stack.client(key) as owner:
            path = await running_campaign(owner)
        campaign_id = path.rsplit("/", 1)[1]
        failed = await campaigns(stack, key, "top-up", campaign_id, "500", "--key", "k-9", url=url)
    assert failed.exit_code == 1
    assert "(503)" in failed.stderr
    assert "it is safe to run this again with --key k-9" in failed.stderr
    assert stack.world.top_up_locks[campaign_id] == []
