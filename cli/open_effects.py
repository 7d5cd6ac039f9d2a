"""Effects left ``prepared`` or ``unknown`` after their workflow ended: where each would have
landed, what that says, and the conditional write that records it (cli/drift.py decides
when; this module only looks and writes)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, select, update

from activities.effects import DONE, FAILED, SENDABLE, EffectRecord, EffectStore, record_of
from activities.posts import POST_KINDS, could_be_ours
from clients.ports import Ledger, SocialPlatform
from core.db import SessionFactory
from core.models import Campaign, Effect, Owner
from core.types import utcnow

EFFECT: Table = Effect.__table__  # type: ignore[attr-defined]
# Effects the ledger takes a key for: it answers that key with the first receipt, forever.
LEDGER_KINDS = ("escrow", "lock", "refund", "close")


@dataclass(frozen=True)
class OpenEffect:
    kind: str
    record: EffectRecord


@dataclass(frozen=True)
class Repair:
    """What an open effect is to become (``done`` with what was found, or ``failed``), and why."""

    state: str
    result: dict[str, Any] | None
    reason: str


class OpenEffects:
    def __init__(
        self,
        sessions: SessionFactory,
        *,
        ledger: Ledger,
        social: SocialPlatform,
        default_x_token: str | None,
        older_than: timedelta,
    ) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._social = social
        self._default_x_token = default_x_token
        self._older_than = older_than
        self._effects = EffectStore(sessions)

    def stale(self, campaign_id: str) -> list[OpenEffect]:
        """The campaign's effects still open and untouched for longer than the window."""
        cutoff = utcnow() - self._older_than
        with self._sessions() as session:
            rows = session.execute(
                select(Effect)
                .where(EFFECT.c.campaign_id == campaign_id, EFFECT.c.state.in_(SENDABLE))
                .where(EFFECT.c.updated_at < cutoff)
                .order_by(EFFECT.c.created_at, EFFECT.c.key)
            ).scalars()
            return [OpenEffect(effect.kind, record_of(effect)) for effect in rows]

    async def decide(self, campaign: Campaign, effect: OpenEffect) -> Repair | None:
        """Look where the effect would have landed; None for a kind nothing can look up."""
        record = effect.record
        if effect.kind in LEDGER_KINDS:
            receipt = await self._ledger.lookup(record.key)
            if receipt is None:
                return Repair(FAILED, None, "the ledger has no operation under its key")
            result: dict[str, Any]
            if effect.kind == "escrow":
                result = {"escrow_id": receipt.escrow_id}
            elif effect.kind == "close":
                escrow = await self._ledger.get_escrow(receipt.escrow_id)
                result = {"locked": escrow.locked, "paid": escrow.paid, "refunded": escrow.refunded}
            else:  # lock (and top-ups) and refund record their receipt, as the activity does
                result = {"receipt_id": receipt.id, "amount": receipt.amount}
            return Repair(DONE, result, f"the ledger has receipt {receipt.id}")
        if effect.kind in POST_KINDS:
            post_id = await self._find_post(campaign, record)
            if post_id is None:
                return Repair(FAILED, None, "not among the author's recent posts")
            return Repair(DONE, {"post_id": post_id}, f"found post {post_id} on X")
        if effect.kind == "media":
            return Repair(FAILED, None, "an upload no post used (X discards it)")
        return None

    async def _find_post(self, campaign: Campaign, record: EffectRecord) -> str | None:
        """The post this effect made, by the activity's own rules (exact text, the author,
        made after the effect was prepared, the right place, claimed by no other campaign)."""
        author_id, token = await asyncio.to_thread(self._author, campaign.owner_id)
        for post in await self._social.recent_posts(author_id, token=token):
            if not could_be_ours(post, author_id, record):
                continue
            claimed = await asyncio.to_thread(
                self._effects.campaign_with_result,
                POST_KINDS,
                "post_id",
                post.id,
                other_than=campaign.id,
            )
            if claimed is None:
                return post.id
        return None

    def _author(self, owner_id: str) -> tuple[str, str | None]:
        with self._sessions() as session:
            owner = session.get(Owner, owner_id)
            if owner is None:
                raise LookupError(f"owner {owner_id} of the campaign is not in the database")
            return owner.x_user_id, owner.x_access_token or self._default_x_token

    def apply(self, record: EffectRecord, repair: Repair) -> bool:
        """Write the repair only if the row is still as read (state and attempts): an activity
        that moved it since wins, and this write changes nothing."""
        error = None if repair.state == DONE else f"reconcile: {repair.reason}"
        with self._sessions() as session:
            moved = session.execute(
                update(EFFECT)
                .where(EFFECT.c.key == record.key, EFFECT.c.state == record.state)
                .where(EFFECT.c.attempts == record.attempts)
                .values(state=repair.state, result=repair.result, error=error, updated_at=utcnow())
                .returning(EFFECT.c.key)
            ).first()
            session.commit()
            return moved is not None
