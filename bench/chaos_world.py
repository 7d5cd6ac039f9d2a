"""What a chaos run creates: owners, participants and campaigns (each with its role, its own
post texts and its engagers), made only through the API and the sandbox's HTTP routes.

Engagers are planned up front, so the checks know who was eligible and what could be earned.
On the chain (``--ledger evm``) every wallet is an address made from its name, so the truth's
recipients map back to the users the plan made eligible.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from web3 import Web3

# What each campaign does besides running; the i-th campaign takes ROLES[i % len(ROLES)], so
# the first three (a small run) already cover top-ups, both cancels and an early close.
ROLES = (
    "top-up",  # pause and resume, top-ups retried with one key, then earns its budget out
    "temporal-cancel",  # cancelled through Temporal itself once it has engagements
    "api-cancel",  # cancelled through the API once it has engagements
    "to-the-end",  # runs until its end time
    "cancel-while-publishing",  # cancelled through Temporal right after publish
    "pause-then-cancel",  # paused, then cancelled through the API while paused
    "top-up-early",  # top-ups before its escrow is locked, then runs to its end time
    "quest",  # a quest campaign, runs to its end time
)
RATES = {"like": 10, "repost": 30, "quote": 50, "reply": 20}
EXTRA_KINDS = ("repost", "quote", "reply")
RETRYABLE = frozenset({500, 502, 503, 504})
TERMINAL = frozenset({"closed", "cancelled", "failed"})


def wallet_named(name: str, ledger: str) -> str:
    """The wallet called ``name``: the name itself on the HTTP ledger, an address on chain
    (the last 20 bytes of its keccak, checksummed as the chain's truth spells it)."""
    if ledger == "http":
        return name
    return Web3.to_checksum_address(Web3.keccak(text=name)[-20:])


@dataclass
class Owner:
    index: int
    x_user_id: str
    wallet: str
    token: str = ""
    owner_id: str = ""
    api_key: str = ""


@dataclass
class CampaignPlan:
    index: int
    role: str
    owner: Owner
    spec: dict[str, Any]
    # Each wave is one POST /sandbox/engagements; the surge is what earns a budget out.
    waves: list[list[dict[str, str]]]
    surge: list[dict[str, str]]
    eligible: dict[str, str]  # x user id -> wallet: the engagers registered as participants
    engagers: set[str]
    top_ups: list[tuple[str, int]]  # (Idempotency-Key, amount)

    @property
    def texts(self) -> tuple[str, str]:
        return self.spec["first_post"]["text"], self.spec["second_post"]["text"]


@dataclass
class CampaignRun:
    plan: CampaignPlan
    campaign_id: str = ""
    started: float = field(default_factory=time.monotonic)
    events: list[str] = field(default_factory=list)
    top_up_attempts: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)  # the last status document
    timeline: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, Any] = field(default_factory=dict)  # what the sandbox saw, for the JSON

    def note(self, what: str) -> None:
        self.events.append(f"+{time.monotonic() - self.started:6.1f}s {what}")


def _value(items: list[dict[str, str]], eligible: dict[str, str]) -> int:
    return sum(RATES[e["kind"]] for e in items if e["user_id"] in eligible)


def plan_campaign(
    index: int,
    owner: Owner,
    engagers: int,
    tag: str,
    duration: int,
    poll: int,
    ledger: str = "http",
) -> CampaignPlan:
    role = ROLES[index % len(ROLES)]
    quest = role == "quest"
    answer = f"chaos{tag}{index}"
    users = [f"{int(tag, 16) % 10**6:06d}{index:04d}{j:05d}" for j in range(engagers)]
    # Three in four engagers are registered participants; the rest must never be paid.
    eligible = {u: wallet_named(f"w-{u}", ledger) for j, u in enumerate(users) if j % 4 != 3}
    waves: list[list[dict[str, str]]] = [[], [], []]
    surge: list[dict[str, str]] = []
    for j, user in enumerate(users):
        extra = EXTRA_KINDS[(j // 3) % 3]  # each wave (j % 3) gets every kind
        text = (
            f"{answer} says {extra} {j}" if quest and j % 2 == 0 else f"{extra} {tag}-{index}-{j}"
        )
        waves[j % 3] += [
            {"user_id": user, "kind": "like"},
            {"user_id": user, "kind": extra, "text": text},
        ]
        more = "reply" if extra == "quote" else "quote"
        surge.append({"user_id": user, "kind": more, "text": f"{more} {tag}-{index}-{j} surge"})
    regular = _value([e for w in waves for e in w], eligible)
    top_ups: list[tuple[str, int]] = []
    if role == "top-up":
        # Waves fit the budget; the surge earns it out even after the two top-ups (when each
        # key locks once), so the campaign closes early.
        budget = regular + 100
        amount = max(10, _value(surge, eligible) // 4)
        top_ups = [(f"chaos-{tag}-{index}-a", amount), (f"chaos-{tag}-{index}-b", amount + 7)]
    else:
        budget = 2 * (regular + _value(surge, eligible)) + 1000
        if role == "top-up-early":
            top_ups = [(f"chaos-{tag}-{index}-a", 500), (f"chaos-{tag}-{index}-b", 507)]
    spec: dict[str, Any] = {
        "name": f"Chaos {tag} #{index} ({role})",
        "type": "quest" if quest else "awareness",
        "asset": "native",
        "budget": budget,
        "first_post": {"text": f"Chaos {tag} #{index}: like, repost, quote or reply to earn!"},
        "second_post": {"text": f"Chaos {tag} #{index} terms: paid once per person and kind."},
        "duration_seconds": duration,
        "poll_interval_seconds": poll,
    }
    if quest:
        spec["quest"] = {"answer": answer, "winners": max(1, engagers // 4)}
    else:
        spec["rewards"] = dict(RATES)
    return CampaignPlan(index, role, owner, spec, waves, surge, eligible, set(users), top_ups)


class Api:
    """The API and the sandbox over HTTP, retrying what a careful client retries (connection
    errors and 5xx) for a while; counts what it had to retry."""

    def __init__(
        self, http: httpx.AsyncClient, api_url: str, sandbox_url: str, concurrency: int = 0
    ) -> None:
        self.http, self.api_url, self.sandbox_url = http, api_url, sandbox_url
        self.retries = 0
        # At most this many requests in flight (0: no bound), for a run that must stay under
        # a limit of the API's (its connection pool) to exercise something else.
        self.slots = asyncio.Semaphore(concurrency) if concurrency > 0 else None

    async def call(
        self,
        method: str,
        url: str,
        *,
        key: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        retry_for: float = 90.0,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if key:
            all_headers["Authorization"] = f"Bearer {key}"
        deadline = time.monotonic() + retry_for
        while True:
            try:
                if self.slots is None:
                    response = await self.http.request(method, url, json=json, headers=all_headers)
                else:
                    async with self.slots:
                        response = await self.http.request(
                            method, url, json=json, headers=all_headers
                        )
                if response.status_code not in RETRYABLE or time.monotonic() >= deadline:
                    return response
            except httpx.HTTPError:
                if time.monotonic() >= deadline:
                    raise
            self.retries += 1
            await asyncio.sleep(0.5)

    async def api(self, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
        return await self.call(method, f"{self.api_url}{path}", key=key, **kwargs)

    async def sandbox(self, method: str, path: str, json: Any = None) -> Any:
        response = await self.call(method, f"{self.sandbox_url}{path}", json=json)
        response.raise_for_status()
        return response.json() if response.content else None


def _ok(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:300]}")
    return response.json()


async def seed(
    api: Api,
    operator_key: str,
    campaigns: int,
    engagers: int,
    duration: int,
    poll: int,
    ledger: str = "http",
) -> list[CampaignRun]:
    """Owners (X user, funded wallet, API owner), participants, and one draft per campaign.
    (On chain the service's account pays the native locks: the owner's ledger account funded
    here is then unused.)"""
    tag = f"{random.getrandbits(24):06x}"
    owners = [
        Owner(
            k,
            f"{int(tag, 16) % 10**6:06d}9{k:03d}",
            wallet_named(f"chaos-{tag}-owner-{k}", ledger),
        )
        for k in range(max(1, (campaigns + 1) // 2))
    ]
    plans = [
        plan_campaign(i, owners[i % len(owners)], engagers, tag, duration, poll, ledger)
        for i in range(campaigns)
    ]
    for owner in owners:
        mine = [p for p in plans if p.owner is owner]
        # Budgets, plus every top-up as if each retry locked again, twice over: a funding
        # shortfall must never be what fails a campaign here.
        need = sum(p.spec["budget"] + 4 * sum(a for _, a in p.top_ups) for p in mine)
        user = await api.sandbox("POST", "/sandbox/users", {"id": owner.x_user_id})
        owner.token = user["token"]
        await api.sandbox(
            "POST", "/sandbox/accounts", {"account": owner.wallet, "balance": need * 2}
        )
        body = {
            "name": f"Chaos owner {tag}-{owner.index}",
            "x_user_id": owner.x_user_id,
            "x_access_token": owner.token,
            "wallet": owner.wallet,
        }
        created = _ok(await api.api("POST", "/v1/owners", operator_key, json=body), "owner")
        owner.owner_id, owner.api_key = created["id"], created["api_key"]
    participants = [{"x_user_id": u, "wallet": w} for p in plans for u, w in p.eligible.items()]
    for start in range(0, len(participants), 10_000):
        chunk = {"participants": participants[start : start + 10_000]}
        _ok(await api.api("POST", "/v1/participants", operator_key, json=chunk), "participants")
    runs = []
    for plan in plans:
        response = await api.api("POST", "/v1/campaigns", plan.owner.api_key, json=plan.spec)
        run = CampaignRun(plan, _ok(response, f"campaign {plan.index}")["id"])
        run.note(f"created as {plan.role}")
        runs.append(run)
    return runs
