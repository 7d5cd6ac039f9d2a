"""SIGTERM to the real ``campaigns worker`` and ``campaigns api`` processes: the worker takes no
new task, lets the activity in flight finish and exits 0 within its grace period; the API
closes its live WebSockets with 1001 (going away) and exits 0."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from core.db import make_engine
from core.models import Effect
from core.temporal import connect
from tests.helpers import assert_eventually
from tests.ops.stack import OpsStack, campaign_spec, require_postgres, seed_owner

pytestmark = [pytest.mark.slow, pytest.mark.dev_server]

GRACE_SECONDS = 20.0
# The sandbox holds every X call this long, so the first post is in flight when SIGTERM comes.
LATENCY_MS = 4000


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OpsStack]:
    require_postgres()
    from tests.ops.stack import POSTGRES_ADMIN_URL

    state: Path = tmp_path_factory.mktemp("ops-shutdown")
    running = OpsStack(state, POSTGRES_ADMIN_URL, worker_grace_seconds=GRACE_SECONDS)
    try:
        await running.start()
        yield running
    finally:
        await running.stop()
        running.drop_schema()


async def wait_for_exit(stack: OpsStack, name: str, timeout: float) -> int:
    process = stack.parts[name].process
    assert process is not None
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        assert time.monotonic() < deadline, f"{name} still running after {timeout:.0f} s"
        await asyncio.sleep(0.05)
    return process.returncode


async def publish(http: httpx.AsyncClient, stack: OpsStack, api_key: str, text: str) -> str:
    headers = {"Authorization": f"Bearer {api_key}"}
    draft = await http.post(
        f"{stack.api_url}/v1/campaigns", json=campaign_spec(text), headers=headers
    )
    assert draft.status_code == 201, draft.text
    campaign_id = str(draft.json()["id"])
    published = await http.post(
        f"{stack.api_url}/v1/campaigns/{campaign_id}/publish", json={}, headers=headers
    )
    assert published.status_code == 202, published.text
    return campaign_id


def effect_state(stack: OpsStack, key: str) -> tuple[str, dict[str, str] | None] | None:
    engine = make_engine(stack.database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(Effect.state, Effect.result).where(Effect.key == key)  # type: ignore[call-overload]
            ).first()
            return (str(row[0]), row[1]) if row is not None else None
    finally:
        engine.dispose()


WORKER_COMMANDS = {
    "campaigns worker": [sys.executable, "-m", "cli", "worker"],
    "python worker.py": [sys.executable, str(Path(__file__).resolve().parents[2] / "worker.py")],
}


def restart_worker(stack: OpsStack, argv: list[str]) -> None:
    part = stack.parts["worker"]
    if part.process is not None and part.process.poll() is None:
        stack.stop_part("worker")
        part.process.wait(timeout=GRACE_SECONDS + 15)
    part.argv = argv
    stack._spawn(part)


@pytest.mark.parametrize("command", list(WORKER_COMMANDS))
async def test_sigterm_mid_activity_finishes_it_takes_nothing_new_and_exits_zero(
    stack: OpsStack, command: str
) -> None:
    restart_worker(stack, WORKER_COMMANDS[command])
    async with httpx.AsyncClient(timeout=30) as http:
        owner = await seed_owner(http, stack)
        text = f"Graceful {uuid.uuid4().hex[:8]}: like and repost to earn!"
        faults = {"latency_ms": LATENCY_MS, "target": "x"}
        (await http.put(f"{stack.sandbox_url}/sandbox/faults", json=faults)).raise_for_status()
        try:
            campaign_id = await publish(http, stack, owner.api_key, text)
            key = f"{campaign_id}:first-post"

            def sent() -> None:
                found = effect_state(stack, key)
                assert found is not None and found[0] == "unknown", found

            await assert_eventually(sent, timeout=60, interval=0.1)
            signalled_at = datetime.now(UTC)
            signalled = time.monotonic()
            stack.stop_part("worker")  # SIGTERM
            code = await wait_for_exit(stack, "worker", GRACE_SECONDS + 15)
            took = time.monotonic() - signalled
            truth = (await http.get(f"{stack.sandbox_url}/sandbox/truth/posts")).json()
        finally:
            await http.delete(f"{stack.sandbox_url}/sandbox/faults")

    assert code == 0, stack.events("worker")[-10:]
    assert took < GRACE_SECONDS, f"took {took:.1f} s"
    # The activity finished: X has the post exactly once and the row records it.
    posts = [post for post in truth["posts"] if post["text"] == text]
    assert len(posts) == 1, posts
    assert effect_state(stack, key) == ("done", {"post_id": posts[0]["id"]})

    client = await connect(stack.temporal_address, "default")
    handle = client.get_workflow_handle(f"campaign-{campaign_id}")
    events = [event async for event in handle.fetch_history_events()]
    completed = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    completions = [e for e in events if e.event_type == completed]
    first_post_done = completions[-1]
    # It completed after the signal (it was in flight), and nothing was taken after it.
    assert first_post_done.event_time.ToDatetime(tzinfo=UTC) > signalled_at
    after = events[events.index(first_post_done) + 1 :]
    taken = (EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert [e.event_type for e in after if e.event_type in taken] == []
    assert effect_state(stack, f"{campaign_id}:escrow") is None  # the next step never ran
    logged = stack.events("worker")
    assert "worker shutting down" in logged and "worker stopped" in logged
    assert logged.index("worker shutting down") < logged.index("worker stopped")


async def test_sigterm_closes_live_websockets_with_going_away_and_exits_zero(
    stack: OpsStack,
) -> None:
    worker = stack.parts["worker"].process
    if worker is None or worker.poll() is not None:
        stack._spawn(stack.parts["worker"])  # the status query needs a worker to answer
    async with httpx.AsyncClient(timeout=30) as http:
        owner = await seed_owner(http, stack)
        text = f"Going away {uuid.uuid4().hex[:8]}: like and repost to earn!"
        campaign_id = await publish(http, stack, owner.api_key, text)
    url = stack.api_url.replace("http://", "ws://") + f"/v1/campaigns/{campaign_id}/live"
    headers = {"Authorization": f"Bearer {owner.api_key}"}
    async with ws_connect(url, additional_headers=headers, open_timeout=30) as socket:
        first = json.loads(await asyncio.wait_for(socket.recv(), 60))
        assert first["campaign_id"] == campaign_id
        stack.stop_part("api")  # SIGTERM
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(socket.recv(), 30)
    assert closed.value.rcvd is not None, "the server sent no close frame"
    assert closed.value.rcvd.code == 1001, closed.value.rcvd
    assert await wait_for_exit(stack, "api", 20) == 0, stack.events("api")[-10:]
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(timeout=5) as http:
            await http.get(f"{stack.api_url}/healthz")
    logged = stack.events("api")
    for line in ("api shutting down", "live sockets closed", "api stopped"):
        assert line in logged, logged[-10:]
