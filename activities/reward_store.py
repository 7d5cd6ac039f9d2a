"""The reward table and the payouts in the database: synchronous, short transactions.

Called by ``activities.rewards`` on a worker thread, and by the engagement poll for what the
recorded engagements earn so far (``current_reward_table``), so the number shown while running
is the number paid at close. Counts and sums come from the payout rows themselves (one row per
recipient), never from counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    bindparam,
    case,
    func,
    null,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from activities.payout_bulk import copy_payouts, insert_payouts, settle_payouts
from core.campaign_spec import CampaignSpec
from core.contracts import DistributionProgress
from core.models import Campaign, Engagement, EngagementPost, Participant, Payout
from core.rewards import EngagementFact, RewardTable, reward_table
from core.types import utcnow

PAYOUT: Table = Payout.__table__  # type: ignore[attr-defined]
ENGAGEMENT: Table = Engagement.__table__  # type: ignore[attr-defined]
ENGAGEMENT_POST: Table = EngagementPost.__table__  # type: ignore[attr-defined]
PARTICIPANT: Table = Participant.__table__  # type: ignore[attr-defined]
# Rows per INSERT transaction: keeps SQLite's write lock short while 20,000 rows go in.
INSERT_CHUNK = 2000


class CampaignNotFound(LookupError):
    pass


def payout_key(campaign_id: str, x_user_id: str) -> str:
    return f"{campaign_id}:payout:{x_user_id}"


def load_spec(session: Session, campaign_id: str) -> CampaignSpec:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignNotFound(f"campaign {campaign_id} does not exist")
    return CampaignSpec.model_validate(campaign.spec)


def load_reward_inputs(
    session: Session, campaign_id: str, spec: CampaignSpec
) -> tuple[list[EngagementFact], dict[str, str]]:
    """What the campaign's rules read, and the wallets of those engagers who registered one.

    Awareness pays each (user, kind) once: the engagements, one row per user and kind. A quest
    looks at every reply and quote post, with its creation time on X.
    """
    if spec.type == "quest":
        return _facts_and_wallets(session, _answer_posts(campaign_id))
    e, p = ENGAGEMENT.c, PARTICIPANT.c
    query = (
        select(e.x_user_id, e.kind, e.first_seen_at, e.text, null(), null(), p.wallet)
        .select_from(ENGAGEMENT.outerjoin(PARTICIPANT, p.x_user_id == e.x_user_id))
        .where(e.campaign_id == campaign_id)
    )
    return _facts_and_wallets(session, query)


def _answer_posts(campaign_id: str) -> Select[Any]:
    e, p = ENGAGEMENT_POST.c, PARTICIPANT.c
    return (
        select(e.x_user_id, e.kind, e.first_seen_at, e.text, e.post_id, e.posted_at, p.wallet)
        .select_from(ENGAGEMENT_POST.outerjoin(PARTICIPANT, p.x_user_id == e.x_user_id))
        .where(e.campaign_id == campaign_id)
    )


def _facts_and_wallets(
    session: Session, query: Select[Any]
) -> tuple[list[EngagementFact], dict[str, str]]:
    facts: list[EngagementFact] = []
    wallets: dict[str, str] = {}
    for user, kind, first_seen_at, text, post_id, posted_at, wallet in session.execute(query):
        facts.append(EngagementFact(user, kind, first_seen_at, text, post_id, posted_at))
        if wallet is not None:
            wallets[user] = wallet
    return facts, wallets


def current_reward_table(session: Session, campaign_id: str, budget: int) -> RewardTable:
    """What the engagements recorded so far earn under ``budget`` (same rules as at close)."""
    spec = load_spec(session, campaign_id)
    facts, wallets = load_reward_inputs(session, campaign_id, spec)
    return reward_table(spec, facts, wallets, budget)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _insert_ignoring_existing(session: Session, rows: list[dict[str, object]]) -> None:
    insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    statement = insert(PAYOUT).on_conflict_do_nothing(index_elements=["campaign_id", "x_user_id"])
    session.execute(statement, rows)


def write_payouts(session: Session, campaign_id: str, table: RewardTable) -> None:
    """One payout row per recipient, ``seq`` = position in the table (1-based).

    Existing rows are kept (a retry after partial work only adds what is missing): the table
    is deterministic, so the rows a first attempt wrote are the ones a retry would write.
    """
    now = utcnow()
    rows = [
        {
            "campaign_id": campaign_id,
            "seq": seq,
            "x_user_id": row.x_user_id,
            "wallet": row.wallet,
            "amount": row.amount,
            "state": "pending",
            "key": payout_key(campaign_id, row.x_user_id),
            "created_at": now,
            "updated_at": now,
        }
        for seq, row in enumerate(table.rows, start=1)
    ]
    if _dialect(session) == "postgresql":
        if not copy_payouts(session, campaign_id, rows, now):
            insert_payouts(session, campaign_id, rows, now)  # adds only what is missing
        session.commit()
        return
    for start in range(0, len(rows), INSERT_CHUNK):
        _insert_ignoring_existing(session, rows[start : start + INSERT_CHUNK])
        session.commit()


@dataclass(frozen=True)
class PendingPayout:
    id: int
    seq: int
    wallet: str
    amount: int
    key: str


def next_pending(
    session: Session,
    campaign_id: str,
    after_seq: int,
    limit: int,
    through_seq: int | None = None,
) -> list[PendingPayout]:
    c = PAYOUT.c
    query = (
        select(c.id, c.seq, c.wallet, c.amount, c.key)
        .where(c.campaign_id == campaign_id, c.seq > after_seq, c.state == "pending")
        .order_by(c.seq)
        .limit(limit)
    )
    if through_seq is not None:
        query = query.where(c.seq <= through_seq)
    return [PendingPayout(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class Settlement:
    payout_id: int
    state: str  # paid | failed
    receipt_id: str | None = None
    error: str | None = None


def record_settlements(session: Session, settlements: Sequence[Settlement]) -> None:
    """Record receipts and refusals, only on rows still pending (a recorded result stays)."""
    if not settlements:
        return
    now = utcnow()
    errors = [s.error[:2000] if s.error else None for s in settlements]
    if _dialect(session) == "postgresql":
        ids, states = [s.payout_id for s in settlements], [s.state for s in settlements]
        receipts = [s.receipt_id for s in settlements]
        settle_payouts(session, ids, states, receipts, errors, now)  # one statement
        session.commit()
        return
    c = PAYOUT.c
    statement = (
        update(PAYOUT)
        .where(c.id == bindparam("b_id"), c.state == "pending")
        .values(
            state=bindparam("b_state"),
            receipt_id=bindparam("b_receipt"),
            error=bindparam("b_error"),
            updated_at=bindparam("b_now"),
        )
    )
    params = [
        {
            "b_id": s.payout_id,
            "b_state": s.state,
            "b_receipt": s.receipt_id,
            "b_error": error,
            "b_now": now,
        }
        for s, error in zip(settlements, errors, strict=True)
    ]
    session.connection().execute(statement, params)
    session.commit()


def payout_totals(session: Session, campaign_id: str) -> tuple[int, int]:
    """(recipients, earned): the number of payout rows and the sum of their amounts."""
    c = PAYOUT.c
    query = select(func.count(), func.coalesce(func.sum(c.amount), 0)).where(
        c.campaign_id == campaign_id
    )
    recipients, earned = session.execute(query).one()
    return int(recipients), int(earned)


def distribution_progress(session: Session, campaign_id: str) -> DistributionProgress:
    c = PAYOUT.c

    def count_of(state: str) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((c.state == state, 1), else_=0)), 0)

    query = select(
        func.count(),
        count_of("paid"),
        count_of("failed"),
        count_of("pending"),
        func.coalesce(func.sum(case((c.state == "paid", c.amount), else_=0)), 0),
    ).where(c.campaign_id == campaign_id)
    recipients, paid, failed, pending, paid_amount = session.execute(query).one()
    return DistributionProgress(
        recipients=int(recipients),
        paid=int(paid),
        failed=int(failed),
        pending=int(pending),
        paid_amount=int(paid_amount),
    )
