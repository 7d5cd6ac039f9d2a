"""WS /v1/campaigns/{id}/live: documents on connect and on change, one poller per campaign."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.live import LiveHub
from tests.api.conftest import CAMPAIGN_BODY, Stack, eventually, new_owner
from tests.api.test_campaign_messages import running_campaign, wait_for_status


def ws_url(stack: Stack, path: str) -> str:
    return stack.url.replace("http://", "ws://") + path + "/live"


class Subscriber:
    """Collects the statuses a socket receives until the server closes it."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.documents: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.socket:
            self.documents.append(json.loads(message))

    def statuses(self) -> list[str]:
        seen: list[str] = []
        for document in self.documents:
            if not seen or seen[-1] != document["status"]:
                seen.append(document["status"])
        return seen

    async def has_seen(self, status: str) -> None:
        assert self.statuses() and self.statuses()[-1] == status, self.statuses()


async def test_subscribers_share_one_poller_and_follow_to_the_end(stack: Stack) -> None:
    _, key = await new_owner(stack)
    hub: LiveHub = stack.app.state.live_hub
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        campaign_id = path.rsplit("/", 1)[1]
        url = ws_url(stack, path)
        by_header = await connect(url, additional_headers={"Authorization": f"Bearer {key}"})
        by_message = await connect(url)
        await by_message.send(json.dumps({"api_key": key}))
        by_bearer_message = await connect(url)
        await by_bearer_message.send(json.dumps({"authorization": f"Bearer {key}"}))
        subscribers = [Subscriber(s) for s in (by_header, by_message, by_bearer_message)]

        for subscriber in subscribers:
            await eventually(lambda s=subscriber: s.has_seen("running"))  # type: ignore[misc]
        assert hub.pollers() == {campaign_id: 3}
        # The server runs on this loop: exactly one status loop exists for the campaign.
        loops = [t for t in asyncio.all_tasks() if t.get_name() == f"live-{campaign_id}"]
        assert len(loops) == 1
        fetches_before = hub.fetches[campaign_id]

        for action, expected in (("pause", "paused"), ("resume", "running")):
            assert (await owner.post(f"{path}/{action}")).status_code == 202
            for subscriber in subscribers:
                await eventually(lambda s=subscriber, e=expected: s.has_seen(e))  # type: ignore[misc]
        assert (await owner.post(f"{path}/cancel")).status_code == 202
        await asyncio.wait_for(asyncio.gather(*(s.task for s in subscribers)), 30)

    for subscriber in subscribers:
        assert subscriber.statuses()[:3] == ["running", "paused", "running"]
        assert subscriber.statuses()[-1] == "closed"
        assert subscriber.socket.close_code == 1000
        assert subscriber.documents[-1]["closed_at"] is not None
    assert hub.fetches[campaign_id] > fetches_before
    await eventually(_no_pollers(hub))


def _no_pollers(hub: LiveHub) -> Any:
    async def check() -> None:
        assert hub.pollers() == {}

    return check


async def test_leaving_subscribers_stop_the_poller(stack: Stack) -> None:
    _, key = await new_owner(stack)
    hub: LiveHub = stack.app.state.live_hub
    headers = {"Authorization": f"Bearer {key}"}
    async with stack.client(key) as owner:
        draft = (await owner.post("/v1/campaigns", json=CAMPAIGN_BODY)).json()
        url = ws_url(stack, f"/v1/campaigns/{draft['id']}")
        first = await connect(url, additional_headers=headers)
        second = await connect(url, additional_headers=headers)
        assert json.loads(await first.recv())["status"] == "draft"
        assert json.loads(await second.recv())["status"] == "draft"
        assert hub.pollers() == {draft["id"]: 2}
        await first.close()

        async def one_left() -> None:
            assert hub.pollers() == {draft["id"]: 1}

        await eventually(one_left)
        await second.close()
        await eventually(_no_pollers(hub))


@pytest.mark.parametrize(
    ("key_kind", "code"), [("none", 4401), ("wrong", 4401), ("other_owner", 4404)]
)
async def test_refused_sockets_close_with_a_reason(stack: Stack, key_kind: str, code: int) -> None:
    _, alice_key = await new_owner(stack, "Alice")
    _, bob_key = await new_owner(stack, "Bob")
    async with stack.client(alice_key) as alice:
        draft = (await alice.post("/v1/campaigns", json=CAMPAIGN_BODY)).json()
    url = ws_url(stack, f"/v1/campaigns/{draft['id']}")
    key = {"none": "", "wrong": "ck_wrong", "other_owner": bob_key}[key_kind]
    async with connect(url) as socket:
        await socket.send(json.dumps({"api_key": key}))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 10)
    assert socket.close_code == code
    assert socket.close_reason


async def test_live_of_a_finished_campaign_sends_it_once_and_closes(stack: Stack) -> None:
    _, key = await new_owner(stack)
    async with stack.client(key) as owner:
        path = await running_campaign(owner)
        await owner.post(f"{path}/cancel")
        await wait_for_status(owner, path, "closed")
    socket = await connect(
        ws_url(stack, path), additional_headers={"Authorization": f"Bearer {key}"}
    )
    subscriber = Subscriber(socket)
    await asyncio.wait_for(subscriber.task, 10)
    assert subscriber.statuses() == ["closed"]
    assert socket.close_code == 1000
