"""What ``campaigns demo`` reads of the ledger after its campaign: the HTTP ledger's transfers
when the chain has no events for it (a stack run with CAMPAIGNS_LEDGER=http), and every way
the ledger's truth can disagree with the status document. (On the contract:
tests/cli/test_demo_end_to_end.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from cli.demo_ledger import LedgerOutcome, demo_wallet, ledger_outcome
from clients.ports import TransferOrder
from tests.sandbox.world import SandboxWorld, running_sandbox

STATUS = {"rewards": {"paid": 2, "paid_amount": 50}, "budget": {"refunded": 950}}


@pytest.fixture
async def world() -> AsyncIterator[SandboxWorld]:
    async with running_sandbox() as running:
        yield running


async def test_on_the_http_ledger_it_reads_the_campaigns_transfers(world: SandboxWorld) -> None:
    owner, ada, grace = (demo_wallet("t", name) for name in ("owner", "ada", "grace"))
    await world.fund(owner, 1_000)  # an address is an account name like any other here
    ledger = world.ledger()
    escrow = await ledger.create_escrow(
        "c-9:escrow", campaign_id="c-9", owner_wallet=owner, asset="native"
    )
    await ledger.lock("c-9:lock", escrow_id=escrow.id, amount=1_000)
    orders = [TransferOrder("c-9:payout:1", ada, 20), TransferOrder("c-9:payout:2", grace, 30)]
    await ledger.transfer_batch(escrow.id, orders)
    await ledger.refund("c-9:refund", escrow_id=escrow.id)

    def read() -> LedgerOutcome:
        with httpx.Client(base_url=world.url, timeout=30) as sandbox:
            return ledger_outcome(sandbox, "c-9")

    outcome = await asyncio.to_thread(read)
    assert outcome == LedgerOutcome("HTTP ledger", 1_000, 2, 50, 2, 950, closed=None)
    assert outcome.disagreements(STATUS) == []
    assert outcome.lines()[0] == "on the HTTP ledger: locked 1,000, refunded 950"


def test_every_disagreement_is_named() -> None:
    twice = LedgerOutcome("escrow contract", 1_000, 2, 50, 1, 900, closed=False)
    assert twice.disagreements(STATUS) == [
        "refunded: 900 on the ledger, 950 expected",
        "wallets paid once: 1 on the ledger, 2 expected",
        "the escrow is not closed",
    ]
    assert LedgerOutcome("escrow contract", 1_000, 2, 50, 2, 950, True).disagreements(STATUS) == []


def test_demo_wallets_are_addresses_of_their_run() -> None:
    wallet = demo_wallet("abc123", "7")
    assert len(wallet) == 42 and wallet.startswith("0x") and int(wallet, 16) >= 0
    assert wallet == demo_wallet("abc123", "7") != demo_wallet("abc124", "7")
