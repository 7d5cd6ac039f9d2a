"""Restarting ``campaigns dev`` mid-campaign: the sandbox's world, its chain included, comes
back from the state folder, so the campaign carries on to ``closed`` with its posts, escrow
and payouts intact, counted from the sandbox's ground truth (the escrow contract's events:
``campaigns dev`` pays on the contract)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.devstack_run import DevStack, dev_env, wait_for

CAMPAIGN_SECONDS = 120
BUDGET = 10_000

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[DevStack]:
    running = DevStack(env=dev_env(tmp_path / "state"), logs=tmp_path)
    try:
        yield running
    finally:
        running.close()


def call(method: str, url: str, key: str | None = None, body: Any = None) -> Any:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    answer = httpx.request(method, url, json=body, headers=headers, timeout=30)
    assert answer.status_code < 300, f"{method} {url}: {answer.status_code} {answer.text}"
    return answer.json() if answer.content else None


def wallet(tag: str, n: int) -> str:
    """An address (the contract pays addresses), new per run."""
    return f"0x{tag}{n:032x}"


def chain_events(stack: DevStack, campaign_id: str) -> list[dict[str, Any]]:
    url = f"{stack.sandbox_url}/sandbox/truth/chain?campaign_id={campaign_id}"
    return list(call("GET", url)["events"])


def seed_and_publish(stack: DevStack, tag: str) -> tuple[str, str]:
    """An owner with a sandbox X account and a wallet (a native lock is funded by the
    service's account), three participants, a published campaign. Returns (campaign id,
    owner key)."""
    sandbox, api, operator = stack.sandbox_url, stack.api_url, stack.operator_key
    user = call("POST", f"{sandbox}/sandbox/users", body={"id": f"77{tag}", "username": tag})
    owner = call(
        "POST",
        f"{api}/v1/owners",
        operator,
        {
            "name": tag,
            "x_user_id": user["id"],
            "x_access_token": user["token"],
            "wallet": wallet(tag, 99),
        },
    )
    participants = [{"x_user_id": f"50{n}", "wallet": wallet(tag, n)} for n in range(3)]
    call("POST", f"{api}/v1/participants", operator, {"participants": participants})
    campaign = call(
        "POST",
        f"{api}/v1/campaigns",
        owner["api_key"],
        {
            "name": f"restart {tag}",
            "type": "awareness",
            "asset": "native",
            "budget": BUDGET,
            "rewards": {"like": 10, "repost": 30, "quote": 50, "reply": 20},
            "first_post": {"text": f"Restart {tag}: like or reply to earn"},
            "second_post": {"text": f"Restart {tag}: the terms"},
            "duration_seconds": CAMPAIGN_SECONDS,
            "poll_interval_seconds": 10,
        },
    )
    call("POST", f"{api}/v1/campaigns/{campaign['id']}/publish", owner["api_key"])
    return campaign["id"], owner["api_key"]


def test_a_restarted_dev_stack_carries_a_running_campaign_to_closed(stack: DevStack) -> None:
    tag = uuid.uuid4().hex[:8]
    stack.start()
    campaign_id, key = seed_and_publish(stack, tag)
    status_url = f"{stack.api_url}/v1/campaigns/{campaign_id}/status"

    def running_and_locked() -> dict[str, Any] | None:
        document: dict[str, Any] = call("GET", status_url, key)
        assert document["status"] not in ("failed", "cancelled", "closed"), document
        locked = document["status"] == "running" and document["escrow"]["locked"] == BUDGET
        return document if locked and document["posts"]["second"] else None

    before = wait_for("running with its escrow locked", running_and_locked, timeout=120)
    locked_before = chain_events(stack, campaign_id)
    assert [e["kind"] for e in locked_before] == ["escrow", "lock"], locked_before
    first_post = before["posts"]["first"]
    engage = f"{stack.sandbox_url}/sandbox/engagements"
    call(
        "POST",
        engage,
        body={
            "tweet_id": first_post,
            "engagements": [
                {"user_id": "500", "kind": "like"},
                {"user_id": "501", "kind": "reply"},
            ],
        },
    )

    stack.stop()  # mid-campaign: it closes a minute or more from now
    stack.start()

    # The post is still on X after the restart: people can still engage with it.
    call(
        "POST",
        engage,
        body={
            "tweet_id": first_post,
            "engagements": [{"user_id": "502", "kind": "like"}, {"user_id": "500", "kind": "like"}],
        },
    )

    def finished() -> dict[str, Any] | None:
        document: dict[str, Any] = call("GET", status_url, key)
        terminal = document["status"] in ("closed", "failed", "cancelled")
        return document if terminal else None

    final = wait_for("the campaign's end", finished, timeout=CAMPAIGN_SECONDS + 180)
    assert final["status"] == "closed", final
    assert final["posts"] == before["posts"]

    posts = [p for p in stack.sandbox_truth("posts") if p["author_id"] == f"77{tag}"]
    assert sorted(p["id"] for p in posts) == sorted(before["posts"].values())
    assert not any(p["deleted"] for p in posts)

    assert final["escrow"]["id"] == before["escrow"]["id"]
    events = chain_events(stack, campaign_id)
    # the chain came back whole: the escrow and its lock, mined before the stop, unchanged
    assert events[:2] == locked_before
    kinds = Counter(e["kind"] for e in events)
    assert (kinds["lock"], kinds["refund"], kinds["close"]) == (1, 1, 1), events
    payouts = [e for e in events if e["kind"] == "payout"]
    recipients = Counter(e["to"].lower() for e in payouts)
    # 500 liked (before the stop; again after), 501 replied, 502 liked after the restart.
    assert recipients == {wallet(tag, n): 1 for n in range(3)}, payouts
    paid = sum(e["amount"] for e in payouts)
    assert paid == 10 + 20 + 10 == final["rewards"]["paid_amount"]
    refund = next(e["amount"] for e in events if e["kind"] == "refund")
    assert paid + refund == BUDGET
    assert not stack.sandbox_truth("transfers")  # nothing went through the HTTP ledger
