"""The ledger client against the sandbox's ledger over real HTTP."""

from __future__ import annotations

import asyncio

import pytest

from clients.ports import InsufficientFunds, PermanentError, RetryableError, TransferOrder
from tests.sandbox.world import SandboxWorld


async def test_escrow_lifecycle(world: SandboxWorld) -> None:
    ledger = world.ledger()
    await world.fund("owner", 1000)
    escrow = await ledger.create_escrow(
        "c1:escrow", campaign_id="c1", owner_wallet="owner", asset="native"
    )
    lock = await ledger.lock("c1:lock", escrow_id=escrow.id, amount=600)
    paid = await ledger.transfer_batch(
        escrow.id, [TransferOrder("c1:payout:1", "w1", 100), TransferOrder("c1:payout:2", "w2", 50)]
    )
    refund = await ledger.refund("c1:refund", escrow_id=escrow.id)
    closed = await ledger.close("c1:close", escrow_id=escrow.id)

    assert (lock.kind, lock.amount) == ("lock", 600)
    assert [(r.kind, r.to, r.amount) for r in paid] == [("payout", "w1", 100), ("payout", "w2", 50)]
    assert (refund.kind, refund.amount, refund.to) == ("refund", 450, "owner")
    assert closed.closed and closed.balance == 0 and closed.paid == 150 and closed.refunded == 450
    assert await world.balance("owner") == 850
    assert [t["kind"] for t in await world.transfers()] == ["lock", "payout", "payout", "refund"]
    found = await ledger.lookup("c1:payout:2")
    assert found == paid[1]
    assert await ledger.lookup("c1:payout:3") is None


async def test_repeated_keys_answer_the_first_receipt(world: SandboxWorld) -> None:
    ledger = world.ledger()
    await world.fund("owner", 1000)
    escrow = await ledger.create_escrow(
        "c1:escrow", campaign_id="c1", owner_wallet="owner", asset="native"
    )
    again = await ledger.create_escrow(
        "c1:escrow", campaign_id="c1", owner_wallet="owner", asset="native"
    )
    assert again.id == escrow.id
    first = await ledger.lock("c1:lock", escrow_id=escrow.id, amount=300)
    assert await ledger.lock("c1:lock", escrow_id=escrow.id, amount=300) == first
    payout = [TransferOrder("c1:payout:1", "w1", 10)]
    assert await ledger.transfer_batch(escrow.id, payout) == await ledger.transfer_batch(
        escrow.id, payout
    )
    assert await world.balance("w1") == 10
    assert len(await world.transfers()) == 2


async def test_lost_transfer_response_then_retry_pays_once(world: SandboxWorld) -> None:
    ledger = world.ledger()
    await world.fund("owner", 1000)
    escrow = await ledger.create_escrow(
        "c1:escrow", campaign_id="c1", owner_wallet="owner", asset="native"
    )
    await ledger.lock("c1:lock", escrow_id=escrow.id, amount=1000)
    orders = [TransferOrder(f"c1:payout:{n}", f"w{n}", 7) for n in range(3)]

    await world.faults(lose_response_rate=1.0, target="ledger")
    with pytest.raises(RetryableError):
        await ledger.transfer_batch(escrow.id, orders)
    await world.clear_faults()
    receipts = await ledger.transfer_batch(escrow.id, orders)

    payouts = [t for t in await world.transfers() if t["kind"] == "payout"]
    assert sorted(t["key"] for t in payouts) == [o.key for o in orders]
    assert [r.id for r in receipts] == [t["id"] for t in payouts]
    assert (await ledger.get_escrow(escrow.id)).balance == 1000 - 21


async def test_lock_beyond_the_wallet_is_refused(world: SandboxWorld) -> None:
    ledger = world.ledger()
    await world.fund("owner", 100)
    escrow = await ledger.create_escrow(
        "c1:escrow", campaign_id="c1", owner_wallet="owner", asset="native"
    )
    with pytest.raises(InsufficientFunds):
        await ledger.lock("c1:lock", escrow_id=escrow.id, amount=101)
    assert await world.balance("owner") == 100
    assert await world.transfers() == []


async def test_transfers_beyond_the_escrow_are_refused_whole(world: SandboxWorld) -> None:
    ledger = world.ledger()
    await world.fund("owner", 100)
    escrow = await ledger.create_escrow(
        "c1:escrow", campaign_id="c1", owner_wallet="owner", asset="native"
    )
    await ledger.lock("c1:lock", escrow_id=escrow.id, amount=100)
    with pytest.raises(InsufficientFunds):
        await ledger.transfer_batch(
            escrow.id,
            [TransferOrder("c1:payout:1", "w1", 60), TransferOrder("c1:payout:2", "w2", 41)],
        )
    assert (await ledger.get_escrow(escrow.id)).balance == 100
    assert [t["kind"] for t in await world.transfers()] == ["lock"]


async def test_close_with_a_balance_is_refused(world: SandboxWorld) -> None:
    ledger = world.ledger()
    await world.fund("owner", 100)
    escrow = await ledger.create_escrow(
        "c1:escrow", campaign_id="c1", owner_wallet="owner", asset="native"
    )
    await ledger.lock("c1:lock", escrow_id=escrow.id, amount=100)
    with pytest.raises(PermanentError) as caught:
        await ledger.close("c1:close", escrow_id=escrow.id)
    assert caught.value.status == 409


async def test_balances_exact_under_concurrent_payouts(world: SandboxWorld) -> None:
    ledger = world.ledger()
    await world.fund("owner", 10_000)
    escrow = await ledger.create_escrow(
        "c1:escrow", campaign_id="c1", owner_wallet="owner", asset="native"
    )
    await ledger.lock("c1:lock", escrow_id=escrow.id, amount=10_000)
    # 60 batches race for 120 distinct payouts of 100 (only 100 fit); every key sent twice.
    batches = [
        [
            TransferOrder(f"c1:payout:{n}", f"w{n}", 100),
            TransferOrder(f"c1:payout:{119 - n}", f"w{119 - n}", 100),
        ]
        for n in range(60)
    ]
    outcomes = await asyncio.gather(
        *(ledger.transfer_batch(escrow.id, batch) for batch in batches * 2), return_exceptions=True
    )
    assert all(isinstance(o, list | InsufficientFunds) for o in outcomes)
    final = await ledger.get_escrow(escrow.id)
    payouts = [t for t in await world.transfers() if t["kind"] == "payout"]
    assert len({t["key"] for t in payouts}) == len(payouts)
    assert final.paid == sum(t["amount"] for t in payouts) == 100 * len(payouts)
    assert final.balance == 10_000 - final.paid >= 0
    assert final.balance == 0
