"""Seeds a campaign with engagers for the reward and distribution tests (no workflows here)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from clients.ports import PermanentError, Receipt, RetryableError, TransferOrder
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


class KeyedLedger:
    """Only ``transfer_batch``, keyed like the ledger: a repeated key answers its first receipt.

    ``lose_next`` commits the next call and then fails as a lost response would; transfers to
    a wallet in ``refused`` make the whole call fail with a PermanentError; ``drop_receipts``
    answers that many fewer receipts once.
    """

    def __init__(self) -> None:
        self.receipts: dict[str, Receipt] = {}
        self.calls = 0
        self.lose_next = 0
        self.refused: set[str] = set()
        self.drop_receipts = 0

    async def transfer_batch(
        self, escrow_id: str, transfers: Sequence[TransferOrder]
    ) -> list[Receipt]:
        self.calls += 1
        assert len(transfers) <= 500
        refused = [t for t in transfers if t.to in self.refused]
        if refused:
            raise PermanentError("unknown account", status=422, detail=f"no {refused[0].to}")
        answer = []
        for t in transfers:
            if t.key not in self.receipts:
                self.receipts[t.key] = Receipt(
                    id=f"r{len(self.receipts)}", key=t.key, kind="payout",
                    escrow_id=escrow_id, amount=t.amount, to=t.to,
                )  # fmt: skip
            answer.append(self.receipts[t.key])
        if self.lose_next:
            self.lose_next -= 1
            raise RetryableError("connection dropped after commit")
        if self.drop_receipts:
            answer, self.drop_receipts = answer[: -self.drop_receipts], 0
        return answer
