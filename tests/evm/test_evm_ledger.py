"""The EVM ledger adapter behind the ``Ledger`` port: one signed transaction per effect key,
resent as the same bytes, resolved by the receipt, nonces never shared.

Faults are real ones at the boundary: the node's answer lost after it took the transaction,
the worker dying right after saving the signed bytes, another sender taking a nonce.
"""

from __future__ import annotations

import asyncio

import pytest
from eth_account import Account
from eth_typing import HexStr

from clients.evm_ledger import NATIVE_ASSET
from clients.ports import InsufficientFunds, PermanentError, RetryableError, TransferOrder
from tests.evm.chain import fresh_addresses
from tests.evm.port_chain import PortChain

ZERO = "0x" + "00" * 20


async def open_escrow(port_chain: PortChain, campaign: str = "c-1", amount: int = 1_000) -> str:
    ledger = port_chain.ledger()
    [owner] = fresh_addresses(1)
    escrow = await ledger.create_escrow(
        f"{campaign}:escrow", campaign_id=campaign, owner_wallet=owner, asset=NATIVE_ASSET
    )
    await ledger.lock(f"{campaign}:lock", escrow_id=escrow.id, amount=amount)
    return escrow.id


async def test_an_escrow_lives_through_the_port(port_chain: PortChain) -> None:
    ledger = port_chain.ledger()
    [owner] = fresh_addresses(1)
    escrow = await ledger.create_escrow(  # a wallet in lower case is an address all the same
        "c-1:escrow", campaign_id="c-1", owner_wallet=owner.lower(), asset=NATIVE_ASSET
    )
    assert (escrow.id, escrow.key, escrow.locked, escrow.closed) == ("c-1", "c-1:escrow", 0, False)
    lock = await ledger.lock("c-1:lock", escrow_id="c-1", amount=1_000)
    assert (lock.kind, lock.amount, lock.key) == ("lock", 1_000, "c-1:lock")
    recipients = fresh_addresses(2)
    orders = [
        TransferOrder(f"c-1:payout:u{i}", to, 100 * (i + 1)) for i, to in enumerate(recipients)
    ]
    receipts = await ledger.transfer_batch("c-1", orders)
    assert [(r.key, r.amount, r.to) for r in receipts] == [
        ("c-1:payout:u0", 100, recipients[0]),
        ("c-1:payout:u1", 200, recipients[1]),
    ]
    assert [await port_chain.coin(r) for r in recipients] == [100, 200]
    refund = await ledger.refund("c-1:refund", escrow_id="c-1")
    assert refund.amount == 700
    assert await port_chain.coin(owner) == 700
    closed = await ledger.close("c-1:close", escrow_id="c-1")
    assert (closed.locked, closed.paid, closed.refunded, closed.balance, closed.closed) == (
        1_000,
        300,
        700,
        0,
        True,
    )
    assert await ledger.lookup("c-1:payout:u1") == receipts[1]
    assert await ledger.lookup("c-1:refund") == refund
    assert await ledger.lookup("c-1:never") is None


async def test_a_repeated_key_answers_as_before_and_sends_nothing(port_chain: PortChain) -> None:
    escrow_id = await open_escrow(port_chain)
    ledger = port_chain.ledger()
    [recipient] = fresh_addresses(1)
    orders = [TransferOrder("c-1:payout:u0", recipient, 10)]
    first = await ledger.transfer_batch(escrow_id, orders)
    sent = await port_chain.sent_by_service()
    # a fresh adapter on the same store, as after a worker restart
    again = await port_chain.ledger().transfer_batch(escrow_id, orders)
    relock = await port_chain.ledger().lock("c-1:lock", escrow_id=escrow_id, amount=1_000)
    assert again == first
    assert relock.amount == 1_000
    assert await port_chain.sent_by_service() == sent
    assert await port_chain.coin(recipient) == 10
    assert (await ledger.get_escrow(escrow_id)).locked == 1_000


async def test_a_lost_answer_is_resolved_by_the_receipt_not_a_new_signature(
    port_chain: PortChain,
) -> None:
    escrow_id = await open_escrow(port_chain)
    sent = await port_chain.sent_by_service()
    port_chain.provider.lose = 1
    receipt = await port_chain.ledger().lock("c-1:top-up:a", escrow_id=escrow_id, amount=50)
    assert port_chain.provider.lose == 0  # the answer really was lost
    assert receipt.amount == 50
    assert await port_chain.sent_by_service() == sent + 1
    [saved] = await port_chain.store.carrying("c-1:top-up:a")
    mined = await port_chain.w3.eth.get_transaction(HexStr(saved.hash))
    assert mined["nonce"] == saved.nonce
    assert (await port_chain.ledger().get_escrow(escrow_id)).locked == 1_050


async def test_a_crash_after_saving_sends_the_saved_bytes(port_chain: PortChain) -> None:
    escrow_id = await open_escrow(port_chain)
    recipients = fresh_addresses(2)
    orders = [TransferOrder(f"c-1:payout:u{i}", to, 10) for i, to in enumerate(recipients)]
    port_chain.store.crash = 1
    with pytest.raises(RuntimeError, match="died"):
        await port_chain.ledger().transfer_batch(escrow_id, orders)
    [saved] = [tx for tx in port_chain.store.saved.values() if tx.kind == "payout"]
    assert [await port_chain.coin(r) for r in recipients] == [0, 0]  # never sent
    sent = await port_chain.sent_by_service()
    receipts = await port_chain.ledger().transfer_batch(escrow_id, orders)
    assert len(receipts) == 2
    assert all(r.id.startswith(saved.hash) for r in receipts)
    assert await port_chain.sent_by_service() == sent + 1
    assert [await port_chain.coin(r) for r in recipients] == [10, 10]


async def test_concurrent_effects_never_share_a_nonce(port_chain: PortChain) -> None:
    start = await port_chain.sent_by_service()
    campaigns = [f"c-{n}" for n in range(6)]
    await asyncio.gather(*(open_escrow(port_chain, c, amount=10) for c in campaigns))
    nonces = sorted(tx.nonce for tx in port_chain.store.saved.values())
    assert nonces == list(range(start, start + 2 * len(campaigns)))
    assert await port_chain.sent_by_service() == start + 2 * len(campaigns)
    for campaign in campaigns:
        assert (await port_chain.ledger().get_escrow(campaign)).locked == 10


async def test_a_big_batch_goes_in_several_transactions_and_pays_each_once(
    port_chain: PortChain,
) -> None:
    escrow_id = await open_escrow(port_chain)
    recipients = fresh_addresses(7)
    orders = [TransferOrder(f"c-1:payout:u{i}", to, 5) for i, to in enumerate(recipients)]
    ledger = port_chain.ledger(recipients_per_transaction=3)
    receipts = await ledger.transfer_batch(escrow_id, orders)
    assert [r.key for r in receipts] == [o.key for o in orders]
    assert len({r.id.split(":")[0] for r in receipts}) == 3
    # the same payouts batched differently (another batch key): the contract skips them all
    regrouped = await port_chain.ledger(recipients_per_transaction=4).transfer_batch(
        escrow_id, orders
    )
    assert [r.id for r in regrouped] == [r.id for r in receipts]
    assert [await port_chain.coin(r) for r in recipients] == [5] * 7


async def test_paying_more_than_is_locked_is_refused_before_signing(port_chain: PortChain) -> None:
    escrow_id = await open_escrow(port_chain, amount=100)
    sent = await port_chain.sent_by_service()
    recipients = fresh_addresses(2)
    orders = [TransferOrder(f"c-1:payout:u{i}", to, 60) for i, to in enumerate(recipients)]
    with pytest.raises(InsufficientFunds, match="insufficient escrow"):
        await port_chain.ledger().transfer_batch(escrow_id, orders)
    assert await port_chain.sent_by_service() == sent
    assert not [tx for tx in port_chain.store.saved.values() if tx.kind == "payout"]
    assert [await port_chain.coin(r) for r in recipients] == [0, 0]


async def test_one_wallet_under_two_keys_is_paid_once(port_chain: PortChain) -> None:
    escrow_id = await open_escrow(port_chain)
    [shared] = fresh_addresses(1)
    first, second = (
        TransferOrder("c-1:payout:u1", shared, 10),
        TransferOrder("c-1:payout:u2", shared, 10),
    )
    ledger = port_chain.ledger()
    with pytest.raises(PermanentError, match="c-1:payout:u2") as refused:
        await ledger.transfer_batch(escrow_id, [first, second])
    assert refused.value.type == "payout-refused"
    # the caller splits the batch: the paid one is found again, the other stays refused
    [paid] = await ledger.transfer_batch(escrow_id, [first])
    assert paid.key == "c-1:payout:u1"
    with pytest.raises(PermanentError, match="c-1:payout:u2"):
        await ledger.transfer_batch(escrow_id, [second])
    assert await port_chain.coin(shared) == 10


async def test_a_nonce_taken_by_another_sender_is_not_signed_again(port_chain: PortChain) -> None:
    escrow_id = await open_escrow(port_chain)
    port_chain.store.crash = 1
    with pytest.raises(RuntimeError):
        await port_chain.ledger().lock("c-1:top-up:b", escrow_id=escrow_id, amount=5)
    [saved] = await port_chain.store.carrying("c-1:top-up:b")
    # another process with the same key spends that nonce first
    intruder = Account.from_key(port_chain.service.key)
    other = intruder.sign_transaction(
        {
            "type": 2,
            "chainId": await port_chain.w3.eth.chain_id,
            "nonce": saved.nonce,
            "to": port_chain.funder,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    await port_chain.w3.eth.send_raw_transaction(other.raw_transaction)
    with pytest.raises(PermanentError, match="went to another transaction"):
        await port_chain.ledger().lock("c-1:top-up:b", escrow_id=escrow_id, amount=5)
    assert len(await port_chain.store.carrying("c-1:top-up:b")) == 1
    assert (await port_chain.ledger().get_escrow(escrow_id)).locked == 1_000


async def test_a_token_escrow_locks_from_the_owners_allowance(port_chain: PortChain) -> None:
    owner = port_chain.funder  # an unlocked account that can approve
    token = await port_chain.token_for(owner, 1_000)
    ledger = port_chain.ledger()
    await ledger.create_escrow("t:escrow", campaign_id="t", owner_wallet=owner, asset=token.address)
    with pytest.raises(InsufficientFunds, match="insufficient allowance"):
        await ledger.lock("t:lock", escrow_id="t", amount=400)
    await port_chain.transact(token.functions.approve(port_chain.escrow.address, 400), owner)
    await ledger.lock("t:lock", escrow_id="t", amount=400)
    escrow = await ledger.get_escrow("t")
    assert (escrow.asset, escrow.locked) == (token.address, 400)
    assert await token.functions.balanceOf(owner).call() == 600


async def test_bad_input_is_a_clear_permanent_error(port_chain: PortChain) -> None:
    ledger = port_chain.ledger()
    with pytest.raises(PermanentError, match="must be addresses"):
        await ledger.create_escrow(
            "x:escrow", campaign_id="x", owner_wallet="alice", asset="native"
        )
    with pytest.raises(PermanentError, match="does not exist") as missing:
        await ledger.get_escrow("nope")
    assert missing.value.status == 404
    with pytest.raises(PermanentError, match="no such escrow"):
        await ledger.refund("nope:refund", escrow_id="nope")
    escrow_id = await open_escrow(port_chain)
    saved = dict(port_chain.store.saved)
    with pytest.raises(PermanentError, match="not an address") as bad_wallet:
        await ledger.transfer_batch(escrow_id, [TransferOrder("c-1:payout:u", "bob", 1)])
    assert bad_wallet.value.status == 422
    with pytest.raises(PermanentError, match="not a positive uint256"):
        await ledger.transfer_batch(escrow_id, [TransferOrder("c-1:payout:u", ZERO, -1)])
    with pytest.raises(PermanentError, match="not a positive uint256"):
        await ledger.lock("c-1:top-up:zero", escrow_id=escrow_id, amount=0)
    assert port_chain.store.saved == saved


async def test_two_workers_racing_on_one_key_send_one_effect_and_leave_no_gap(
    port_chain: PortChain,
) -> None:
    escrow_id = await open_escrow(port_chain)
    # two workers: their own adapters (and locks) on one shared store
    first, second = port_chain.ledger(), port_chain.ledger()
    receipts = await asyncio.gather(
        first.lock("c-1:top-up:race", escrow_id=escrow_id, amount=5),
        second.lock("c-1:top-up:race", escrow_id=escrow_id, amount=5),
    )
    assert receipts[0] == receipts[1]
    assert len(await port_chain.store.carrying("c-1:top-up:race")) == 1
    assert (await port_chain.ledger().get_escrow(escrow_id)).locked == 1_005
    # the loser spent no nonce, so what comes next is mined, not stuck behind a gap
    refund = await port_chain.ledger().refund("c-1:refund", escrow_id=escrow_id)
    assert refund.amount == 1_005
    nonces = sorted(tx.nonce for tx in port_chain.store.saved.values())
    assert nonces == list(range(len(nonces)))
    assert await port_chain.sent_by_service() == len(nonces)


async def test_a_pending_transaction_is_waited_for_and_never_replaced(
    port_chain: PortChain,
) -> None:
    escrow_id = await open_escrow(port_chain)
    tester = port_chain.provider.ethereum_tester
    tester.disable_auto_mine_transactions()  # a slow chain: sent, not mined yet
    impatient = port_chain.ledger(receipt_timeout=0)
    for _attempt in range(2):  # the first send, then the activity's retry while pending
        with pytest.raises(RetryableError, match="not mined yet"):
            await impatient.lock("c-1:top-up:slow", escrow_id=escrow_id, amount=5)
    [saved] = await port_chain.store.carrying("c-1:top-up:slow")
    tester.mine_blocks(1)
    tester.enable_auto_mine_transactions()
    receipt = await impatient.lock("c-1:top-up:slow", escrow_id=escrow_id, amount=5)
    assert receipt.id.startswith(saved.hash)
    assert await port_chain.store.carrying("c-1:top-up:slow") == [saved]
    assert (await impatient.get_escrow(escrow_id)).locked == 1_005
