"""The campaign's escrow on the ledger: create and lock, top up, refund, close, and release
(compensation: refund and close whatever escrow the effect rows and the ledger record).

The ledger takes the business key with every call and answers a repeat with its first
receipt, so an unknown outcome is simply sent again; the effects table records each one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.effects import DONE, FAILED, EffectStore, keyed_effect
from activities.errors import as_activity_failures, not_found
from activities.payloads import (
    CLOSE_ESCROW,
    LOCK_ESCROW,
    LOCK_TOP_UP,
    REFUND_ESCROW,
    RELEASE_ESCROW,
    CampaignRef,
    EscrowClosed,
    EscrowLocked,
    EscrowReleased,
    EscrowRequest,
    LockRequest,
    Refunded,
    TopUpLockRequest,
)
from clients.ports import Ledger
from core.db import SessionFactory
from core.models import Campaign, Owner


@dataclass(frozen=True)
class EscrowTerms:
    owner_wallet: str
    asset: str


def top_up_key(request: TopUpLockRequest) -> str:
    if request.key is not None:
        return f"{request.campaign_id}:top-up:{request.key}"
    if request.number is not None:  # histories from before client keys
        return f"{request.campaign_id}:top-up:{request.number}"
    raise ApplicationError(
        "a top-up needs the client's key", type="InvalidRequest", non_retryable=True
    )


class EscrowActivities:
    def __init__(self, session_factory: SessionFactory, ledger: Ledger) -> None:
        self._sessions = session_factory
        self._effects = EffectStore(session_factory)
        self._ledger = ledger

    def _terms(self, campaign_id: str) -> EscrowTerms:
        with self._sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise not_found(f"campaign {campaign_id}")
            owner = session.get(Owner, campaign.owner_id)
            if owner is None:
                raise not_found(f"owner {campaign.owner_id}")
            return EscrowTerms(owner_wallet=owner.wallet, asset=campaign.asset)

    @activity.defn(name=LOCK_ESCROW)
    async def lock_escrow(self, request: LockRequest) -> EscrowLocked:
        """Create the campaign's escrow and lock the budget into it from the owner's wallet."""
        campaign_id = request.campaign_id
        terms = await asyncio.to_thread(self._terms, campaign_id)
        with as_activity_failures():
            key = f"{campaign_id}:escrow"

            async def create() -> dict[str, str]:
                escrow = await self._ledger.create_escrow(
                    key, campaign_id=campaign_id, owner_wallet=terms.owner_wallet, asset=terms.asset
                )
                return {"escrow_id": escrow.id}

            created = await keyed_effect(
                self._effects,
                key,
                campaign_id=campaign_id,
                kind="escrow",
                request={"owner_wallet": terms.owner_wallet, "asset": terms.asset},
                send=create,
            )
            escrow_id = str(created["escrow_id"])
            await self._lock(campaign_id, f"{campaign_id}:lock", escrow_id, request.amount)
            escrow = await self._ledger.get_escrow(escrow_id)
        return EscrowLocked(escrow_id=escrow_id, locked=escrow.locked)

    @activity.defn(name=LOCK_TOP_UP)
    async def lock_top_up(self, request: TopUpLockRequest) -> EscrowLocked:
        """Lock more into the escrow, once per top-up: the client's key makes a repeated
        request (a retried API call, a signal sent twice) lock nothing more."""
        key = top_up_key(request)
        with as_activity_failures():
            await self._lock(request.campaign_id, key, request.escrow_id, request.amount)
            escrow = await self._ledger.get_escrow(request.escrow_id)
        return EscrowLocked(escrow_id=request.escrow_id, locked=escrow.locked)

    async def _lock(self, campaign_id: str, key: str, escrow_id: str, amount: int) -> None:
        async def lock() -> dict[str, str | int]:
            receipt = await self._ledger.lock(key, escrow_id=escrow_id, amount=amount)
            return {"receipt_id": receipt.id, "amount": receipt.amount}

        await keyed_effect(
            self._effects,
            key,
            campaign_id=campaign_id,
            kind="lock",
            request={"escrow_id": escrow_id, "amount": amount},
            send=lock,
        )

    @activity.defn(name=REFUND_ESCROW)
    async def refund_escrow(self, request: EscrowRequest) -> Refunded:
        """Refund whatever the escrow still holds (the unpaid budget) to the owner."""
        key = f"{request.campaign_id}:refund"

        async def refund() -> dict[str, str | int]:
            receipt = await self._ledger.refund(key, escrow_id=request.escrow_id)
            return {"receipt_id": receipt.id, "amount": receipt.amount}

        with as_activity_failures():
            result = await keyed_effect(
                self._effects,
                key,
                campaign_id=request.campaign_id,
                kind="refund",
                request={"escrow_id": request.escrow_id},
                send=refund,
            )
        return Refunded(refunded=int(result["amount"]))

    @activity.defn(name=CLOSE_ESCROW)
    async def close_escrow(self, request: EscrowRequest) -> EscrowClosed:
        key = f"{request.campaign_id}:close"

        async def close() -> dict[str, int]:
            escrow = await self._ledger.close(key, escrow_id=request.escrow_id)
            return {"locked": escrow.locked, "paid": escrow.paid, "refunded": escrow.refunded}

        with as_activity_failures():
            result = await keyed_effect(
                self._effects,
                key,
                campaign_id=request.campaign_id,
                kind="close",
                request={"escrow_id": request.escrow_id},
                send=close,
            )
        return EscrowClosed(
            locked=int(result["locked"]), paid=int(result["paid"]), refunded=int(result["refunded"])
        )

    @activity.defn(name=RELEASE_ESCROW)
    async def release_escrow(self, ref: CampaignRef) -> EscrowReleased:
        """Compensation: refund and close the campaign's escrow, found from what was recorded
        (not from what the workflow received: a lock may have committed at the ledger while
        its activity failed). Repeating it changes nothing."""
        campaign_id = ref.campaign_id
        with as_activity_failures():
            escrow_id = await self._recorded_escrow(campaign_id)
            if escrow_id is None:
                return EscrowReleased()
            escrow = await self._ledger.get_escrow(escrow_id)
            if not escrow.closed:
                request = EscrowRequest(campaign_id, escrow_id)
                await self.refund_escrow(request)
                await self.close_escrow(request)
                escrow = await self._ledger.get_escrow(escrow_id)
        refund = await asyncio.to_thread(self._effects.get, f"{campaign_id}:refund")
        refunded = refund.result if refund is not None and refund.state == DONE else None
        return EscrowReleased(
            escrow_id=escrow_id,
            locked=escrow.locked,
            paid=escrow.paid,
            refunded=escrow.refunded,
            refund_amount=int((refunded or {}).get("amount", 0)),
        )

    async def _recorded_escrow(self, campaign_id: str) -> str | None:
        """The escrow the effect row records; if its outcome is unknown, the ledger's answer
        to its key (recorded done here). None when no escrow was ever created."""
        key = f"{campaign_id}:escrow"
        record = await asyncio.to_thread(self._effects.get, key)
        if record is None or record.state == FAILED:  # never sent, or refused by the ledger
            return None
        if record.state == DONE and record.result is not None:
            return str(record.result["escrow_id"])
        receipt = await self._ledger.lookup(key)
        if receipt is None:
            return None
        recorded = await asyncio.to_thread(
            self._effects.complete, key, {"escrow_id": receipt.escrow_id}
        )
        return str(recorded["escrow_id"])
