"""The escrow pays each recipient at most once, never more than it holds, and only for the service.

Each test attacks one promise the way a retrying adapter, a buggy batcher or a stranger would,
and checks what the chain saw: balances and events, not the contract's own word alone.
"""

from __future__ import annotations

from web3.types import TxReceipt

from tests.evm.chain import (
    BURNER_SOURCE,
    NATIVE,
    WALLET_SOURCE,
    Chain,
    fresh_addresses,
    key32,
    reverts,
)

CAMPAIGN = key32("c-1")
LOCKED = 1_000


def open_native(chain: Chain, amount: int = LOCKED) -> None:
    chain.send(chain.escrow.functions.create(CAMPAIGN, chain.owner, NATIVE))
    chain.send(chain.escrow.functions.lock(CAMPAIGN, key32("c-1:lock"), amount), value=amount)


def pay(chain: Chain, batch: str, recipients: list[str], amounts: list[int]) -> TxReceipt:
    return chain.send(chain.escrow.functions.pay(CAMPAIGN, key32(batch), recipients, amounts))


def balances(chain: Chain, addresses: list[str]) -> list[int]:
    return [chain.coin(a) for a in addresses]


def test_a_batch_pays_each_recipient_and_logs_it(chain: Chain) -> None:
    open_native(chain)
    recipients = fresh_addresses(3)
    receipt = pay(chain, "c-1:batch:0", recipients, [10, 20, 30])
    assert receipt["status"] == 1
    assert balances(chain, recipients) == [10, 20, 30]
    paid = chain.events(receipt, "Paid")
    assert [(e["recipient"], e["amount"]) for e in paid] == list(
        zip(recipients, [10, 20, 30], strict=True)
    )
    assert all(e["batch"] == key32("c-1:batch:0") for e in paid)
    [batch] = chain.events(receipt, "BatchPaid")
    assert (batch["recipients"], batch["amount"]) == (3, 60)
    assert chain.escrow.functions.balance_of(CAMPAIGN).call() == LOCKED - 60
    assert chain.coin(chain.escrow.address) == LOCKED - 60


def test_a_recipient_twice_in_one_batch_is_paid_once(chain: Chain) -> None:
    open_native(chain)
    [twice, other] = fresh_addresses(2)
    receipt = pay(chain, "c-1:batch:0", [twice, other, twice], [10, 20, 10])
    assert balances(chain, [twice, other]) == [10, 20]
    [skipped] = chain.events(receipt, "PayoutSkipped")
    assert (skipped["recipient"], skipped["paid_before"]) == (twice, 10)
    assert chain.escrow.functions.paid(CAMPAIGN, twice).call() == 10
    assert chain.escrow_state(CAMPAIGN)["paid"] == 30


def test_a_recipient_in_another_batch_is_not_paid_again(chain: Chain) -> None:
    open_native(chain)
    [recipient, newcomer] = fresh_addresses(2)
    pay(chain, "c-1:batch:0", [recipient], [10])
    # another batch key, even another amount: the guard is per campaign and recipient
    receipt = pay(chain, "c-1:batch:1", [recipient, newcomer], [99, 5])
    assert receipt["status"] == 1
    assert balances(chain, [recipient, newcomer]) == [10, 5]
    assert [e["recipient"] for e in chain.events(receipt, "PayoutSkipped")] == [recipient]
    assert chain.escrow_state(CAMPAIGN)["paid"] == 15


def test_the_same_recipient_is_paid_once_in_each_campaign(chain: Chain) -> None:
    open_native(chain)
    other = key32("c-2")
    chain.send(chain.escrow.functions.create(other, chain.owner, NATIVE))
    chain.send(chain.escrow.functions.lock(other, key32("c-2:lock"), 50), value=50)
    [recipient] = fresh_addresses(1)
    pay(chain, "c-1:batch:0", [recipient], [10])
    chain.send(chain.escrow.functions.pay(other, key32("c-2:batch:0"), [recipient], [7]))
    assert balances(chain, [recipient]) == [17]


def test_a_replayed_batch_key_pays_nobody_and_succeeds(chain: Chain) -> None:
    open_native(chain)
    recipients = fresh_addresses(2)
    pay(chain, "c-1:batch:0", recipients[:1], [10])
    # a resend under a finished key, even with other contents, is a quiet success
    replay = pay(chain, "c-1:batch:0", recipients, [10, 20])
    assert replay["status"] == 1
    assert replay["logs"] == []
    assert balances(chain, recipients) == [10, 0]
    assert chain.escrow.functions.batch_done(CAMPAIGN, key32("c-1:batch:0")).call()


def test_paying_more_than_is_locked_reverts_the_whole_batch(chain: Chain) -> None:
    open_native(chain, amount=100)
    recipients = fresh_addresses(3)
    with reverts("insufficient escrow"):
        pay(chain, "c-1:batch:0", recipients, [40, 40, 40])
    assert balances(chain, recipients) == [0, 0, 0]
    assert chain.escrow_state(CAMPAIGN)["paid"] == 0
    # the key was not used up by the failed batch: a smaller one under it still pays
    assert not chain.escrow.functions.batch_done(CAMPAIGN, key32("c-1:batch:0")).call()
    pay(chain, "c-1:batch:0", recipients[:2], [40, 40])
    assert balances(chain, recipients) == [40, 40, 0]


def test_a_stranger_and_the_owner_cannot_pay(chain: Chain) -> None:
    open_native(chain)
    [recipient] = fresh_addresses(1)
    for intruder in (chain.stranger, chain.owner):
        with reverts("only the service"):
            chain.send(
                chain.escrow.functions.pay(CAMPAIGN, key32("b"), [intruder], [LOCKED]),
                sender=intruder,
            )
        with reverts("only the service"):
            chain.send(
                chain.escrow.functions.pay(CAMPAIGN, key32("b"), [recipient], [1]), sender=intruder
            )
    assert chain.escrow.functions.balance_of(CAMPAIGN).call() == LOCKED


def test_malformed_batches_are_refused(chain: Chain) -> None:
    open_native(chain)
    [recipient] = fresh_addresses(1)
    with reverts("recipients and amounts differ in length"):
        pay(chain, "b", [recipient], [1, 2])
    with reverts("amount is zero"):
        pay(chain, "b", [recipient], [0])
    with reverts("recipient is the zero address"):
        pay(chain, "b", [NATIVE], [1])
    with reverts("no such escrow"):
        chain.send(chain.escrow.functions.pay(key32("nope"), key32("b"), [recipient], [1]))
    assert balances(chain, [recipient]) == [0]


def test_a_recipient_that_refuses_the_coin_fails_alone(chain: Chain) -> None:
    open_native(chain)
    refuser = chain.deploy_refuser()
    [recipient] = fresh_addresses(1)
    receipt = pay(chain, "c-1:batch:0", [refuser, recipient], [10, 20])
    assert receipt["status"] == 1
    assert balances(chain, [refuser, recipient]) == [0, 20]
    [failed] = chain.events(receipt, "PayoutFailed")
    assert (failed["recipient"], failed["amount"]) == (refuser, 10)
    # left unpaid, so a later batch may pay it once it can take the coin
    assert chain.escrow.functions.paid(CAMPAIGN, refuser).call() == 0
    assert chain.escrow_state(CAMPAIGN)["paid"] == 20


def test_a_contract_wallet_is_paid_and_a_gas_burner_fails_alone(chain: Chain) -> None:
    open_native(chain)
    wallet = chain.deploy_source(WALLET_SOURCE)
    burner = chain.deploy_source(BURNER_SOURCE)
    [person] = fresh_addresses(1)
    receipt = pay(chain, "c-1:batch:0", [wallet, burner, person], [10, 20, 30])
    assert receipt["status"] == 1
    assert balances(chain, [wallet, burner, person]) == [10, 0, 30]
    assert [e["recipient"] for e in chain.events(receipt, "PayoutFailed")] == [burner]
    # the burner cost the batch a bounded amount of gas, not the block
    assert receipt["gasUsed"] < 300_000
