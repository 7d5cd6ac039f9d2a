"""Create, lock (and top up), refund and close: each one-shot where it must be, service only.

The attacks: a stranger or the owner calling, refunding twice, closing with a balance, locking
or paying after the refund or the close, a replayed lock key, a native value sent wrongly.
"""

from __future__ import annotations

from web3 import Web3

from tests.evm.chain import NATIVE, Chain, fresh_addresses, key32, reverts

CAMPAIGN = key32("c-1")
LOCK = key32("c-1:lock")


def create(chain: Chain, asset: str = NATIVE) -> None:
    chain.send(chain.escrow.functions.create(CAMPAIGN, chain.owner, asset))


def lock(chain: Chain, key: bytes, amount: int, value: int | None = None) -> None:
    value = amount if value is None else value
    chain.send(chain.escrow.functions.lock(CAMPAIGN, key, amount), value=value)


def test_create_is_logged_and_happens_once(chain: Chain) -> None:
    receipt = chain.send(chain.escrow.functions.create(CAMPAIGN, chain.owner, NATIVE))
    [created] = chain.events(receipt, "EscrowCreated")
    assert (created["campaign"], created["owner"], created["asset"]) == (
        CAMPAIGN,
        chain.owner,
        NATIVE,
    )
    with reverts("escrow exists"):
        chain.send(chain.escrow.functions.create(CAMPAIGN, chain.stranger, NATIVE))
    assert chain.escrow_state(CAMPAIGN)["owner"] == chain.owner


def test_only_the_service_creates_locks_refunds_and_closes(chain: Chain) -> None:
    create(chain)
    lock(chain, LOCK, 100)
    for intruder in (chain.stranger, chain.owner):
        with reverts("only the service"):
            chain.send(
                chain.escrow.functions.create(key32("c-x"), intruder, NATIVE), sender=intruder
            )
        with reverts("only the service"):
            chain.send(
                chain.escrow.functions.lock(CAMPAIGN, key32("k"), 1), sender=intruder, value=1
            )
        with reverts("only the service"):
            chain.send(chain.escrow.functions.refund(CAMPAIGN), sender=intruder)
        with reverts("only the service"):
            chain.send(chain.escrow.functions.close(CAMPAIGN), sender=intruder)
    state = chain.escrow_state(CAMPAIGN)
    assert (state["locked"], state["refunded"], state["closed"]) == (100, 0, False)


def test_native_locks_top_up_and_a_replayed_key_locks_nothing(chain: Chain) -> None:
    create(chain)
    lock(chain, LOCK, 100)
    receipt = chain.send(chain.escrow.functions.lock(CAMPAIGN, key32("c-1:top-up:a"), 50), value=50)
    [locked] = chain.events(receipt, "Locked")
    assert (locked["key"], locked["amount"], locked["locked"]) == (key32("c-1:top-up:a"), 50, 150)
    service_before = chain.coin(chain.service)
    replay = chain.send(chain.escrow.functions.lock(CAMPAIGN, LOCK, 100), value=100)
    assert replay["status"] == 1
    assert chain.events(replay, "Locked") == []
    assert chain.escrow_state(CAMPAIGN)["locked"] == 150
    assert chain.coin(chain.escrow.address) == 150
    # the replay's value went back: the service paid only the gas
    gas_cost = replay["gasUsed"] * replay["effectiveGasPrice"]
    assert chain.coin(chain.service) == service_before - gas_cost


def test_a_native_lock_must_send_exactly_its_amount(chain: Chain) -> None:
    create(chain)
    with reverts("value is not the amount"):
        lock(chain, LOCK, 100, value=99)
    with reverts("amount is zero"):
        lock(chain, LOCK, 0)
    assert chain.escrow_state(CAMPAIGN)["locked"] == 0
    assert not chain.escrow.functions.lock_done(CAMPAIGN, LOCK).call()


def test_refund_sends_the_rest_to_the_owner_once(chain: Chain) -> None:
    create(chain)
    lock(chain, LOCK, 100)
    [recipient] = fresh_addresses(1)
    chain.send(chain.escrow.functions.pay(CAMPAIGN, key32("b0"), [recipient], [30]))
    owner_before = chain.coin(chain.owner)
    receipt = chain.send(chain.escrow.functions.refund(CAMPAIGN))
    [refunded] = chain.events(receipt, "Refunded")
    assert (refunded["owner"], refunded["amount"]) == (chain.owner, 70)
    assert chain.coin(chain.owner) == owner_before + 70
    with reverts("already refunded"):
        chain.send(chain.escrow.functions.refund(CAMPAIGN))
    assert chain.coin(chain.owner) == owner_before + 70
    assert chain.coin(chain.escrow.address) == 0


def test_nothing_is_locked_or_paid_after_the_refund(chain: Chain) -> None:
    create(chain)
    lock(chain, LOCK, 100)
    chain.send(chain.escrow.functions.refund(CAMPAIGN))
    with reverts("escrow refunded"):
        lock(chain, key32("c-1:top-up:late"), 10)
    [recipient] = fresh_addresses(1)
    with reverts("escrow refunded"):
        chain.send(chain.escrow.functions.pay(CAMPAIGN, key32("b0"), [recipient], [1]))
    assert chain.coin(chain.escrow.address) == 0


def test_closing_with_a_balance_is_refused(chain: Chain) -> None:
    create(chain)
    lock(chain, LOCK, 100)
    with reverts("escrow holds a balance"):
        chain.send(chain.escrow.functions.close(CAMPAIGN))
    assert not chain.escrow_state(CAMPAIGN)["closed"]


def test_close_happens_once_and_then_the_escrow_takes_nothing(chain: Chain) -> None:
    create(chain)
    lock(chain, LOCK, 100)
    chain.send(chain.escrow.functions.refund(CAMPAIGN))
    receipt = chain.send(chain.escrow.functions.close(CAMPAIGN))
    assert [e["campaign"] for e in chain.events(receipt, "Closed")] == [CAMPAIGN]
    with reverts("escrow closed"):
        chain.send(chain.escrow.functions.close(CAMPAIGN))
    with reverts("escrow closed"):
        lock(chain, key32("c-1:top-up:after-close"), 10)
    with reverts("escrow closed"):
        chain.send(chain.escrow.functions.refund(CAMPAIGN))
    with reverts("escrow closed"):
        chain.send(chain.escrow.functions.pay(CAMPAIGN, key32("b"), [chain.stranger], [1]))
    assert chain.coin(chain.escrow.address) == 0


def test_an_empty_escrow_closes_without_a_refund(chain: Chain) -> None:
    create(chain)
    lock(chain, LOCK, 30)
    [recipient] = fresh_addresses(1)
    chain.send(chain.escrow.functions.pay(CAMPAIGN, key32("b0"), [recipient], [30]))
    chain.send(chain.escrow.functions.close(CAMPAIGN))
    assert chain.escrow_state(CAMPAIGN)["closed"]


def test_the_zero_address_is_neither_service_nor_owner(chain: Chain) -> None:
    with reverts("owner is the zero address"):
        chain.send(chain.escrow.functions.create(CAMPAIGN, NATIVE, NATIVE))
    with reverts("no such escrow"):
        lock(chain, LOCK, 1)
    assert Web3.is_address(chain.escrow.functions.service().call())
    assert chain.escrow.functions.service().call() == chain.service
