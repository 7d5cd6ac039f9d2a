"""``campaigns demo``: a whole campaign against the local stack's sandbox in about a minute.

Seeds an owner (a sandbox X user with a wallet), a few hundred participants and a short
campaign, publishes it, lets simulated engagers arrive (sandbox ``POST /sandbox/simulate``)
and watches it to its end, only through the API and the sandbox's own HTTP endpoints; then
checks what the ledger did, from the sandbox's ground truth (``cli.demo_ledger``).

Wallets are addresses, as the escrow contract pays addresses; with the native coin the
service's account funds the lock and the refund goes to the owner's address. The owner's
wallet is also funded on the HTTP ledger, so the demo runs on either ledger.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from cli.api_client import ApiClient, ApiError, Connection, resolve_connection
from cli.client_commands import ApiKey, ApiUrl, refusals_exit
from cli.demo_ledger import demo_wallet, ledger_outcome
from cli.render import draw_live, status_table, styled
from core.config import get_settings

# The sandbox's simulated engagers have these X user IDs (7000000000 + n).
SIMULATED_USER_BASE = 7_000_000_000
FIRST_POST_TIMEOUT = 60.0

console = Console()


@dataclass(frozen=True)
class DemoPlan:
    participants: int = 300
    engagers: int = 400
    per_minute: float = 600.0
    duration_seconds: int = 60
    poll_interval_seconds: int = 10
    budget: int = 100_000


def _sandbox(http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = http.post(path, json=body)
    except httpx.HTTPError as error:
        raise ApiError(f"cannot reach the sandbox at {http.base_url}: {error}") from None
    if response.status_code >= 400:
        raise ApiError(f"the sandbox refused {path}: {response.text[:200]}", response.status_code)
    result: dict[str, Any] = response.json()
    return result


def seed_and_publish(
    operator: ApiClient, sandbox: httpx.Client, plan: DemoPlan, say: Any = print
) -> tuple[str, Connection]:
    """Owner, participants, campaign, publish, engagers. Returns (campaign id, owner's
    connection)."""
    tag = uuid.uuid4().hex[:6]
    user = _sandbox(
        sandbox, "/sandbox/users", {"id": f"9{int(tag, 16)}", "username": f"demo_{tag}"}
    )
    wallet = demo_wallet(tag, "owner")
    _sandbox(sandbox, "/sandbox/accounts", {"account": wallet, "balance": plan.budget * 2})
    owner = operator.request(
        "POST",
        "/v1/owners",
        json_body={
            "name": f"Demo {tag}",
            "x_user_id": user["id"],
            "x_access_token": user["token"],
            "wallet": wallet,
        },
    )
    say(f"owner {owner['id']} (@{user['username']}, wallet {wallet})")
    participants = [
        {"x_user_id": str(SIMULATED_USER_BASE + n), "wallet": demo_wallet(tag, str(n))}
        for n in range(plan.participants)
    ]
    operator.request("POST", "/v1/participants", json_body={"participants": participants})
    say(f"{plan.participants} participants registered (X user -> wallet)")

    connection = Connection(operator.connection.api_url, owner["api_key"])
    with ApiClient(connection) as client:
        campaign = client.request(
            "POST",
            "/v1/campaigns",
            json_body={
                "name": f"Demo launch {tag}",
                "type": "awareness",
                "asset": "native",
                "budget": plan.budget,
                "rewards": {"like": 10, "repost": 30, "quote": 50, "reply": 20},
                "first_post": {"text": f"Demo {tag}: like, repost, quote or reply to earn!"},
                "second_post": {"text": f"Demo {tag} terms: paid once per person and kind."},
                "duration_seconds": plan.duration_seconds,
                "poll_interval_seconds": plan.poll_interval_seconds,
            },
        )
        campaign_id: str = campaign["id"]
        published = client.publish(campaign_id)
        say(f"campaign {campaign_id} published: workflow {published['workflow_id']}")
        first_post = _wait_for_first_post(client, campaign_id)
    _sandbox(
        sandbox,
        "/sandbox/simulate",
        {"tweet_id": first_post, "users": plan.engagers, "per_minute": plan.per_minute},
    )
    say(f"first post {first_post} is live; {plan.engagers} engagers arriving")
    return campaign_id, connection


def _wait_for_first_post(client: ApiClient, campaign_id: str) -> str:
    deadline = time.monotonic() + FIRST_POST_TIMEOUT
    while time.monotonic() < deadline:
        document = client.status(campaign_id)
        if document["posts"]["first"]:
            return str(document["posts"]["first"])
        if document["status"] in ("failed", "cancelled", "closed"):
            raise ApiError(
                f"campaign {campaign_id} ended {document['status']}: {document['failure']}"
            )
        time.sleep(0.5)
    raise ApiError(f"campaign {campaign_id} has no first post after {FIRST_POST_TIMEOUT:.0f} s")


def watch_to_end(connection: Connection, campaign_id: str) -> dict[str, Any]:
    with ApiClient(connection) as client:
        return draw_live(client.live(campaign_id), console) or {}


@refusals_exit
def demo(
    sandbox_url: Annotated[
        str | None, typer.Option(help="sandbox base URL (default: CAMPAIGNS_SANDBOX_HOST:PORT)")
    ] = None,
    participants: Annotated[int, typer.Option(min=1, max=10_000)] = 300,
    engagers: Annotated[int, typer.Option(min=1, max=100_000)] = 400,
    duration: Annotated[int, typer.Option(min=60, help="campaign length in seconds")] = 60,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """A whole campaign against the local stack (campaigns dev) in about a minute."""
    settings = get_settings()
    connection = resolve_connection(settings, api_url, api_key)
    sandbox_base = sandbox_url or f"http://{settings.sandbox_host}:{settings.sandbox_port}"
    plan = DemoPlan(participants=participants, engagers=engagers, duration_seconds=duration)
    with (
        ApiClient(connection) as operator,
        httpx.Client(base_url=sandbox_base, timeout=30) as sandbox,
    ):
        campaign_id, owner = seed_and_publish(operator, sandbox, plan, say=console.print)
        final = watch_to_end(owner, campaign_id)
        console.print(status_table(final))
        console.print(f"campaign {campaign_id} ended {styled(final.get('status', '?'))}")
        settled = ledger_outcome(sandbox, campaign_id)
    for line in settled.lines():
        console.print(line)
    disagreements = settled.disagreements(final)
    for disagreement in disagreements:
        console.print(f"the {settled.ledger} disagrees: {disagreement}")
    console.print(f"next: campaigns show {campaign_id} --api-key {owner.api_key}")
    if final.get("status") != "closed" or disagreements:
        raise typer.Exit(1)
