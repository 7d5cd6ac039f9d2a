"""What the demo's campaign did on the ledger, read from the sandbox's ground truth (never
from our own database), and checked against the campaign's status document.

The escrow contract's events (``GET /sandbox/truth/chain?campaign_id=``) when the worker pays
on the chain, as ``campaigns dev`` runs it by default; else the HTTP ledger's transfers
(``GET /sandbox/truth/transfers``), for a stack run with ``CAMPAIGNS_LEDGER=http``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from cli.api_client import ApiError


def demo_wallet(tag: str, name: str) -> str:
    """A wallet of the demo: an address, as the contract pays addresses (the HTTP ledger
    takes it as an account name like any other)."""
    return "0x" + hashlib.sha256(f"{tag}:{name}".encode()).hexdigest()[:40]


@dataclass(frozen=True)
class LedgerOutcome:
    ledger: str  # "escrow contract" or "HTTP ledger"
    locked: int
    payouts: int
    paid: int
    recipients: int  # distinct; equal to payouts when nobody was paid twice
    refunded: int
    closed: bool | None  # the contract says; the HTTP ledger's transfers do not

    def lines(self) -> list[str]:
        """Two short lines (they fit 80 columns)."""
        ending = {True: ", closed", False: ", NOT closed", None: ""}[self.closed]
        return [
            f"on the {self.ledger}: locked {self.locked:,}, refunded {self.refunded:,}{ending}",
            f"  {self.payouts} payouts ({self.paid:,}) to {self.recipients} wallets",
        ]

    def disagreements(self, status: dict[str, Any]) -> list[str]:
        rewards, budget = status.get("rewards", {}), status.get("budget", {})
        wanted = [
            ("payouts", self.payouts, rewards.get("paid")),
            ("paid", self.paid, rewards.get("paid_amount")),
            ("refunded", self.refunded, budget.get("refunded")),
            ("wallets paid once", self.recipients, self.payouts),
        ]
        found = [f"{name}: {seen} on the ledger, {said} expected" for name, seen, said in wanted]
        return [
            text for (_, seen, said), text in zip(wanted, found, strict=True) if seen != said
        ] + (["the escrow is not closed"] if self.closed is False else [])


def _get(sandbox: httpx.Client, path: str) -> dict[str, Any]:
    try:
        response = sandbox.get(path)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise ApiError(f"cannot read the sandbox's truth at {path}: {error}") from None
    answer: dict[str, Any] = response.json()
    return answer


def ledger_outcome(sandbox: httpx.Client, campaign_id: str) -> LedgerOutcome:
    events = _get(sandbox, f"/sandbox/truth/chain?campaign_id={campaign_id}")["events"]
    if events:
        return _outcome("escrow contract", events, closed=any(e["kind"] == "close" for e in events))
    transfers = _get(sandbox, "/sandbox/truth/transfers")["transfers"]
    mine = [t for t in transfers if str(t["key"]).startswith(f"{campaign_id}:")]
    return _outcome("HTTP ledger", mine, closed=None)


def _outcome(ledger: str, effects: list[dict[str, Any]], closed: bool | None) -> LedgerOutcome:
    def total(kind: str) -> int:
        return sum(int(e["amount"]) for e in effects if e["kind"] == kind)

    payouts = Counter(str(e["to"]).lower() for e in effects if e["kind"] == "payout")
    return LedgerOutcome(
        ledger,
        locked=total("lock"),
        payouts=sum(payouts.values()),
        paid=total("payout"),
        recipients=len(payouts),
        refunded=total("refund"),
        closed=closed,
    )
