"""The sandbox's ledger: wallets, per-campaign escrows and keyed operations, in memory.

It behaves like an escrow contract: every operation carries a key, a repeated key answers
with the first receipt forever, nothing moves more than a wallet or an escrow holds, and a
batch of transfers applies all or nothing. Callers hold the sandbox lock around each call.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.problems import ProblemError, ledger_problem
from sandbox.x_world import now_utc


@dataclass
class LedgerEscrow:
    id: str
    key: str
    campaign_id: str
    owner_wallet: str
    asset: str
    locked: int = 0
    paid: int = 0
    refunded: int = 0
    closed: bool = False

    @property
    def balance(self) -> int:
        return self.locked - self.paid - self.refunded

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "campaign_id": self.campaign_id,
            "owner_wallet": self.owner_wallet,
            "asset": self.asset,
            "locked": self.locked,
            "paid": self.paid,
            "refunded": self.refunded,
            "balance": self.balance,
            "closed": self.closed,
        }


@dataclass(frozen=True)
class Operation:
    """The first receipt of a key: what every repeat of that key is answered with."""

    id: str
    key: str
    kind: str  # escrow | lock | payout | refund | close
    escrow_id: str
    amount: int
    to: str | None
    created_at: datetime

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "kind": self.kind,
            "escrow_id": self.escrow_id,
            "amount": self.amount,
            "to": self.to,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class TransferRecord:
    id: str
    key: str
    escrow: str
    from_: str
    to: str
    asset: str
    amount: int
    kind: str
    created_at: datetime

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "escrow": self.escrow,
            "from": self.from_,
            "to": self.to,
            "asset": self.asset,
            "amount": self.amount,
            "kind": self.kind,
            "created_at": self.created_at.isoformat(),
        }


def transfer_of(op: Operation, escrow: LedgerEscrow) -> TransferRecord | None:
    """What an operation moved, as the ground truth lists it: locks, payouts and refunds of
    a positive amount."""
    if op.kind not in ("lock", "payout", "refund") or op.amount <= 0:
        return None
    source = escrow.owner_wallet if op.kind == "lock" else escrow.id
    target = escrow.id if op.kind == "lock" else (op.to or escrow.owner_wallet)
    return TransferRecord(
        op.id, op.key, escrow.id, source, target, escrow.asset, op.amount, op.kind, op.created_at
    )


def _insufficient(detail: str) -> ProblemError:
    return ledger_problem(409, "insufficient-funds", detail)


class LedgerBook:
    def __init__(self) -> None:
        self.wallets: dict[str, int] = {}
        self.escrows: dict[str, LedgerEscrow] = {}
        self.operations: dict[str, Operation] = {}
        self.transfers: list[TransferRecord] = []
        self._seq = itertools.count(1)
        # (kind, id) of what changed since the state file last saw it (sandbox.persistence).
        self.dirty: set[tuple[str, str]] = set()

    def restore(
        self,
        *,
        wallets: dict[str, int],
        escrows: list[LedgerEscrow],
        operations: list[Operation],
        transfers: list[TransferRecord],
    ) -> None:
        """Rebuild a saved book; the sequence continues past every saved ``op-``/``esc-`` ID."""
        self.wallets = dict(wallets)
        self.escrows = {escrow.id: escrow for escrow in escrows}
        self.operations = {op.key: op for op in operations}
        self.transfers = list(transfers)
        numbers = [int(e.id.split("-", 1)[1]) for e in escrows]
        numbers += [int(op.id.split("-", 1)[1]) for op in operations]
        self._seq = itertools.count(max(numbers, default=0) + 1)
        self.dirty.clear()

    def _credit(self, account: str, amount: int) -> None:
        self.wallets[account] = self.wallets.get(account, 0) + amount
        self.dirty.add(("wallet", account))

    def fund(self, account: str, amount: int) -> int:
        self._credit(account, amount)
        return self.wallets[account]

    def escrow(self, escrow_id: str) -> LedgerEscrow:
        escrow = self.escrows.get(escrow_id)
        if escrow is None:
            raise ledger_problem(404, "escrow-not-found", f"No escrow {escrow_id}.")
        return escrow

    def _repeat(self, key: str, kind: str, escrow_id: str | None) -> Operation | None:
        seen = self.operations.get(key)
        if seen is None:
            return None
        if seen.kind != kind or (escrow_id is not None and seen.escrow_id != escrow_id):
            raise ledger_problem(
                409,
                "key-reused",
                f"Key {key!r} was already used for a {seen.kind} on {seen.escrow_id}.",
            )
        return seen

    def _record(
        self, key: str, kind: str, escrow: LedgerEscrow, amount: int, to: str | None
    ) -> Operation:
        op = Operation(f"op-{next(self._seq)}", key, kind, escrow.id, amount, to, now_utc())
        self.operations[key] = op
        # Every recorded operation changes its escrow (amounts, closed) and needs saving.
        self.dirty.update({("operation", key), ("escrow", escrow.id)})
        # Its transfer is not saved apart: the state file rebuilds it from the operation
        # (a payout's three documents were most of what a batch of 500 cost the sandbox).
        transfer = transfer_of(op, escrow)
        if transfer is not None:
            self.transfers.append(transfer)
        return op

    def _open(self, escrow_id: str) -> LedgerEscrow:
        escrow = self.escrow(escrow_id)
        if escrow.closed:
            raise ledger_problem(409, "escrow-closed", f"Escrow {escrow_id} is closed.")
        return escrow

    def create_escrow(
        self, key: str, campaign_id: str, owner_wallet: str, asset: str
    ) -> LedgerEscrow:
        seen = self._repeat(key, "escrow", None)
        if seen is not None:
            return self.escrows[seen.escrow_id]
        escrow = LedgerEscrow(f"esc-{next(self._seq)}", key, campaign_id, owner_wallet, asset)
        self.escrows[escrow.id] = escrow
        self._record(key, "escrow", escrow, 0, None)
        return escrow

    def lock(self, key: str, escrow_id: str, amount: int) -> Operation:
        seen = self._repeat(key, "lock", escrow_id)
        if seen is not None:
            return seen
        escrow = self._open(escrow_id)
        available = self.wallets.get(escrow.owner_wallet, 0)
        if amount > available:
            raise _insufficient(
                f"Wallet {escrow.owner_wallet} holds {available}, cannot lock {amount}."
            )
        self._credit(escrow.owner_wallet, -amount)
        escrow.locked += amount
        return self._record(key, "lock", escrow, amount, escrow.id)

    def transfer_batch(self, escrow_id: str, orders: list[tuple[str, str, int]]) -> list[Operation]:
        escrow = self.escrow(escrow_id)
        fresh: dict[str, tuple[str, int]] = {}
        for key, to, amount in orders:
            if self._repeat(key, "payout", escrow_id) is None and key not in fresh:
                fresh[key] = (to, amount)
        if fresh:
            if escrow.closed:
                raise ledger_problem(409, "escrow-closed", f"Escrow {escrow_id} is closed.")
            total = sum(amount for _, amount in fresh.values())
            if total > escrow.balance:
                raise _insufficient(
                    f"Escrow {escrow_id} holds {escrow.balance}, the batch needs {total}."
                )
            # All checks passed: apply the whole batch (nothing above has changed state).
            for key, (to, amount) in fresh.items():
                escrow.paid += amount
                self._credit(to, amount)
                self._record(key, "payout", escrow, amount, to)
        return [self.operations[key] for key, _, _ in orders]

    def refund(self, key: str, escrow_id: str) -> Operation:
        seen = self._repeat(key, "refund", escrow_id)
        if seen is not None:
            return seen
        escrow = self._open(escrow_id)
        amount = escrow.balance
        escrow.refunded += amount
        self._credit(escrow.owner_wallet, amount)
        return self._record(key, "refund", escrow, amount, escrow.owner_wallet)

    def close(self, key: str, escrow_id: str) -> LedgerEscrow:
        seen = self._repeat(key, "close", escrow_id)
        escrow = self.escrow(escrow_id)
        if seen is not None:
            return escrow
        if escrow.closed:
            raise ledger_problem(409, "escrow-closed", f"Escrow {escrow_id} is closed.")
        if escrow.balance:
            raise ledger_problem(
                409,
                "balance-remaining",
                f"Escrow {escrow_id} still holds {escrow.balance}; refund first.",
            )
        escrow.closed = True
        self._record(key, "close", escrow, 0, None)
        return escrow
