"""A campaign's whole world for tests: the sandbox over HTTP, a migrated database with an
owner, participants and a draft, and the real worker (``worker.build_worker``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import TypeAdapter
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.worker import Worker

from core.campaign_spec import CampaignSpec
from core.contracts import StatusDocument
from core.db import session_factory
from core.models import Campaign, Owner, Participant, TimelineEvent
from core.temporal import start_campaign_workflow
from sandbox.app import create_app
from tests.helpers import serve_asgi
from worker import build_worker

HISTORIES_DIR = Path(__file__).resolve().parent.parent / "histories"
# Recorded histories change only on purpose: CAMPAIGNS_RECORD_HISTORIES=1 pytest ...
RECORD_HISTORIES = os.environ.get("CAMPAIGNS_RECORD_HISTORIES") == "1"

OWNER_X_ID = "1000"
OWNER_WALLET = "wallet-owner"
OWNER_FUNDS = 10**12


def awareness_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "Launch week",
        "type": "awareness",
        "asset": "native",
        "budget": 1_000,
        "rewards": {"like": 10, "repost": 30, "quote": 50, "reply": 20},
        "first_post": {"text": f"We launched! {uuid.uuid4().hex[:8]}"},
        "second_post": {"text": "Terms: rewards paid once per person and kind."},
        "duration_seconds": 600,
        "poll_interval_seconds": 60,
    }
    spec.update(overrides)
    return spec


def quest_spec(**overrides: Any) -> dict[str, Any]:
    spec = awareness_spec(type="quest", budget=1_001, quest={"answer": "Blue Moon", "winners": 2})
    del spec["rewards"]
    spec.update(overrides)
    return spec


@dataclass
class CampaignStack:
    client: Client
    engine: Engine
    http: httpx.AsyncClient
    base_url: str
    task_queue: str
    owner_id: str = ""
    # The app's bearer token (X_BEARER_TOKEN): reads of engagement go with it.
    app_token: str | None = None

    def worker(self, **options: Any) -> Worker:
        return build_worker(
            self.client,
            task_queue=self.task_queue,
            sessions=session_factory(self.engine),
            http=self.http,
            x_base_url=self.base_url,
            ledger_base_url=f"{self.base_url}/ledger",
            x_bearer_token=self.app_token,
            **options,
        )

    async def sandbox(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, f"{self.base_url}/sandbox{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    async def setup_owner(self) -> None:
        user = await self.sandbox("POST", "/users", {"id": OWNER_X_ID, "username": "owner"})
        app = await self.sandbox("POST", "/users", {"id": "999", "username": "campaigns-app"})
        self.app_token = app["token"]
        await self.sandbox("POST", "/accounts", {"account": OWNER_WALLET, "balance": OWNER_FUNDS})
        with Session(self.engine) as session:
            owner = Owner(
                name="Ada",
                x_user_id=OWNER_X_ID,
                x_access_token=user["token"],
                wallet=OWNER_WALLET,
            )
            session.add(owner)
            session.commit()
            self.owner_id = owner.id

    def register(self, *x_user_ids: str) -> None:
        with Session(self.engine) as session:
            for x_user_id in x_user_ids:
                session.add(Participant(x_user_id=x_user_id, wallet=f"wallet-{x_user_id}"))
            session.commit()

    def draft(self, spec: dict[str, Any]) -> str:
        valid = CampaignSpec.model_validate(spec)
        with Session(self.engine) as session:
            campaign = Campaign(
                owner_id=self.owner_id,
                name=valid.name,
                type=valid.type,
                asset=valid.asset,
                budget=valid.budget,
                spec=valid.model_dump(mode="json"),
            )
            session.add(campaign)
            session.commit()
            return campaign.id

    async def publish(self, campaign_id: str, **kwargs: Any) -> WorkflowHandle[Any, Any]:
        with Session(self.engine) as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            name, kind = campaign.name, campaign.type
        return await start_campaign_workflow(
            self.client,
            campaign_id=campaign_id,
            owner_id=self.owner_id,
            campaign_type=kind,
            name=name,
            task_queue=self.task_queue,
            **kwargs,
        )

    async def engage(self, post_id: str, *engagements: dict[str, Any]) -> None:
        await self.sandbox(
            "POST", "/engagements", {"tweet_id": post_id, "engagements": list(engagements)}
        )

    async def posts(self) -> list[dict[str, Any]]:
        return list((await self.sandbox("GET", "/truth/posts"))["posts"])

    async def transfers(self, kind: str | None = None) -> list[dict[str, Any]]:
        found = (await self.sandbox("GET", "/truth/transfers"))["transfers"]
        return [t for t in found if kind is None or t["kind"] == kind]

    def timeline(self, campaign_id: str) -> list[TimelineEvent]:
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(TimelineEvent)
                    .where(TimelineEvent.campaign_id == campaign_id)
                    .order_by(TimelineEvent.seq)  # type: ignore[arg-type]
                ).all()
            )

    def campaign(self, campaign_id: str) -> Campaign:
        with Session(self.engine) as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            return campaign


async def outcome(handle: WorkflowHandle[Any, Any]) -> StatusDocument:
    """The final status document (under time skipping, waiting here lets time run ahead).

    A failed campaign's run ends Failed, and one cancelled through Temporal ends Canceled:
    their document is then what the status query answers (a worker must still be up)."""
    try:
        return TypeAdapter(StatusDocument).validate_python(await handle.result())
    except WorkflowFailureError:
        return await status_of(handle)


async def status_of(handle: WorkflowHandle[Any, Any]) -> StatusDocument:
    return TypeAdapter(StatusDocument).validate_python(await handle.query("status"))


@contextlib.asynccontextmanager
async def campaign_stack(client: Client, engine: Engine) -> AsyncIterator[CampaignStack]:
    async with serve_asgi(create_app()) as base_url, httpx.AsyncClient(timeout=30) as http:
        stack = CampaignStack(client, engine, http, base_url, f"tq-{uuid.uuid4()}")
        await stack.setup_owner()
        yield stack


async def record_history_if_asked(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """Write the finished campaign's history to tests/histories/<name>.json, only when asked."""
    if not RECORD_HISTORIES:
        return
    history = await handle.fetch_history()
    await asyncio.to_thread((HISTORIES_DIR / f"{name}.json").write_text, history.to_json())
