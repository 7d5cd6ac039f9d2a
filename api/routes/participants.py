"""Participants: X users linked to wallets (only they are paid). Operator only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.dialects import postgresql, sqlite

from api.deps import OperatorPrincipal, SessionDep
from api.problems import problem_responses
from api.schemas import ParticipantsUpsert, ParticipantsUpsertedPublic
from core.models import Participant
from core.types import utcnow

router = APIRouter(
    prefix="/v1/participants",
    tags=["participants"],
    responses=problem_responses(400, 401, 403, 422, 503),
)

# Rows per INSERT statement: keeps SQLite under its bound-parameter limit.
_CHUNK = 500


@router.post("", response_model=ParticipantsUpsertedPublic)
def upsert_participants(
    body: ParticipantsUpsert, session: SessionDep, _operator: OperatorPrincipal
) -> ParticipantsUpsertedPublic:
    """Insert or update up to 10,000 participants (the last wallet given for a user wins)."""
    now = utcnow()
    latest = {p.x_user_id: p.wallet for p in body.participants}
    rows = [{"x_user_id": u, "wallet": w, "updated_at": now} for u, w in latest.items()]
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Participant.__table__  # type: ignore[attr-defined]
    for start in range(0, len(rows), _CHUNK):
        statement = insert(table).values(rows[start : start + _CHUNK])
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["x_user_id"],
                set_={"wallet": statement.excluded.wallet, "updated_at": now},
            )
        )
    session.commit()
    return ParticipantsUpsertedPublic(upserted=len(rows))
