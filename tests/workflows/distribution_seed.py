"""Seeds a campaign with engagers for the reward and distribution tests (no workflows here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.models import Campaign, Engagement, Owner, Participant

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LIKE_RATE = 10
ENGAGEMENT: Table = Engagement.__table__  # type: ignore[attr-defined]
PARTICIPANT: Table = Participant.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SeededCampaign:
    campaign_id: str
    budget: int
    wallets: dict[str, str]  # registered engagers: x user id -> wallet, in engagement order
    unregistered: int


def awareness_spec(budget: int) -> dict[str, Any]:
    return {
        "name": "distribution test",
        "type": "awareness",
        "asset": "native",
        "budget": budget,
        "rewards": {"like": LIKE_RATE, "repost": 0, "quote": 0, "reply": 0},
        "first_post": {"text": "first"},
        "second_post": {"text": "second"},
        "duration_seconds": 3600,
    }


def seed_campaign(
    engine: Engine, *, recipients: int, unregistered: int = 0, budget: int | None = None
) -> SeededCampaign:
    """An awareness campaign where ``recipients`` registered users and ``unregistered``
    others each liked once (the unregistered ones first, so they are seen first)."""
    tag = uuid.uuid4().hex[:8]
    budget = LIKE_RATE * recipients if budget is None else budget
    wallets = {f"{tag}-u{i:06d}": f"wallet-{tag}-{i:06d}" for i in range(recipients)}
    ghosts = [f"{tag}-ghost{i:06d}" for i in range(unregistered)]
    with Session(engine) as session:
        owner = Owner(name="owner", x_user_id=f"{tag}-owner", wallet=f"owner-{tag}")
        session.add(owner)
        session.flush()
        campaign = Campaign(
            owner_id=owner.id,
            name="distribution test",
            type="awareness",
            asset="native",
            budget=budget,
            spec=awareness_spec(budget),
        )
        session.add(campaign)
        session.commit()
        campaign_id = campaign.id
    engagers = list(wallets) + ghosts
    now = datetime.now(UTC)
    if not engagers:
        return SeededCampaign(campaign_id, budget, wallets, unregistered)
    with engine.begin() as connection:
        if wallets:
            connection.execute(
                insert(PARTICIPANT),
                [{"x_user_id": u, "wallet": w, "updated_at": now} for u, w in wallets.items()],
            )
        connection.execute(
            insert(ENGAGEMENT),
            [
                {
                    "campaign_id": campaign_id,
                    "x_user_id": user,
                    "kind": "like",
                    "first_seen_at": T0 + timedelta(seconds=i),
                }
                for i, user in enumerate(sorted(engagers))
            ],
        )
    return SeededCampaign(campaign_id, budget, wallets, unregistered)
