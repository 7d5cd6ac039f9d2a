"""The database ``TransactionStore``: what several worker processes share. Each process has
its own engine here (its own pool and connections), as separate workers would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import TypeVar

import pytest
from sqlalchemy.engine import Engine

from activities.evm_store import DatabaseTransactionStore
from clients.evm_ledger import EvmLedger
from clients.evm_transactions import StoredTransaction
from clients.ports import RetryableError
from core.db import make_engine, session_factory
from tests.evm.port_chain import PortChain
from tests.evm.test_evm_ledger import open_escrow
from tests.helpers import assert_eventually

SENDER = "0x" + "5e" * 20
T = TypeVar("T")


@pytest.fixture
def engines(database_url: str) -> Iterator[list[Engine]]:
    made = [make_engine(database_url, pool_size=4) for _ in range(3)]
    yield made
    for engine in made:
        engine.dispose()


def signed(
    key: str, nonce: int, raw: str = "0x01", covers: tuple[tuple[str, str], ...] = ()
) -> StoredTransaction:
    return StoredTransaction(
        key, "c-1", "payout", SENDER, nonce, raw, "0x" + raw[2:].rjust(64, "0"), covers
    )


async def test_concurrent_reservations_from_three_processes_never_share_a_nonce(
    engines: list[Engine],
) -> None:
    stores = [DatabaseTransactionStore(session_factory(engine)) for engine in engines]
    nonces = await asyncio.gather(
        *(stores[i % 3].reserve_nonce(SENDER, chain_nonce=0) for i in range(60))
    )
    assert sorted(nonces) == list(range(60))  # none twice, and no gap either


async def test_a_nonce_is_at_least_the_chains_and_each_sender_counts_alone(
    engines: list[Engine],
) -> None:
    store = DatabaseTransactionStore(session_factory(engines[0]))
    assert await store.reserve_nonce(SENDER, chain_nonce=7) == 7
    # the chain lags behind what was reserved: the reservation does not go back
    assert await store.reserve_nonce(SENDER, chain_nonce=3) == 8
    # someone else sent from this account: the chain is ahead, the reservation follows
    assert await store.reserve_nonce(SENDER, chain_nonce=20) == 20
    assert await store.reserve_nonce("0x" + "aa" * 20, chain_nonce=0) == 0


async def test_signing_and_saving_race_from_three_processes_and_spend_no_nonce_in_vain(
    engines: list[Engine],
) -> None:
    """Six attempts at one key and one that dies while signing: one transaction is saved,
    and the next key gets the very next nonce (the losers' and the dead one's rolled back)."""
    stores = [DatabaseTransactionStore(session_factory(engine)) for engine in engines]

    def signer(raw: str) -> Callable[[int], StoredTransaction]:
        return lambda nonce: signed("c-1:lock", nonce, raw)

    def dies(nonce: int) -> StoredTransaction:
        raise RuntimeError("killed while signing")

    with pytest.raises(RuntimeError, match="killed"):
        await stores[0].save_signed("c-1:escrow", SENDER, 0, dies)
    answers = await asyncio.gather(
        *(stores[i % 3].save_signed("c-1:lock", SENDER, 0, signer(f"0x0{i}")) for i in range(6))
    )
    assert len({a.hash for a in answers}) == 1 and answers[0].nonce == 0
    after = await stores[1].save_signed("c-1:refund", SENDER, 0, lambda n: signed("r", n))
    assert after.nonce == 1


async def test_the_first_save_of_a_key_wins_even_when_saves_race(engines: list[Engine]) -> None:
    stores = [DatabaseTransactionStore(session_factory(engine)) for engine in engines]
    rivals = [signed("c-1:refund", nonce=n, raw=f"0x0{n}") for n in range(1, 7)]
    answers = await asyncio.gather(*(stores[i % 3].save(tx) for i, tx in enumerate(rivals)))
    assert len({a.hash for a in answers}) == 1  # every saver hears of the same winner
    [kept] = await stores[0].carrying("c-1:refund")
    assert kept == answers[0] and kept in rivals
    # a later save with other bytes changes nothing
    assert await stores[1].save(replace(kept, raw="0xff", hash="0x" + "ff" * 32)) == kept


async def test_a_batch_is_found_by_any_transfer_it_covers_with_its_recipients_in_order(
    engines: list[Engine],
) -> None:
    store = DatabaseTransactionStore(session_factory(engines[0]))
    covers = (("c-1:payout:u2", "0xb"), ("c-1:payout:u1", "0xa"))
    batch = signed("c-1:batch:abc", nonce=4, covers=covers)
    await store.save(batch)
    await store.save(other_escrow := replace(signed("c-2:escrow", 5, "0x02"), escrow_id="c-2"))
    close = await store.save(signed("c-1:close", nonce=6, raw="0x03"))
    assert await store.carrying("c-1:payout:u1") == [batch]
    assert await store.carrying("c-1:batch:abc") == [batch]
    assert await store.carrying("c-1:payout:nobody") == []
    assert await store.of_escrow("c-1") == [batch, close]  # oldest first
    assert await store.of_escrow("c-2") == [other_escrow]


async def as_retried(attempt: Callable[[], Awaitable[T]]) -> T:
    """Retry a RetryableError as Temporal would. The winner's nonce may be above the loser's
    (filled a moment later): eth-tester, having no mempool, refuses that gap where a node
    would hold the transaction, and the retry resends the same bytes once it is filled."""

    async def once() -> T:
        try:
            return await attempt()
        except RetryableError as error:
            raise AssertionError(str(error)) from error

    return await assert_eventually(once, timeout=30)


async def test_two_workers_on_the_database_store_send_one_effect_per_key(
    port_chain: PortChain, engines: list[Engine]
) -> None:
    """The adapter on this store, across two 'processes': the same lock raced on one key
    moves the money once, and the loser's nonce is filled so later effects are mined."""
    escrow_id = await open_escrow(port_chain)
    first, second = (
        EvmLedger(port_chain.w3, port_chain.escrow.address, port_chain.service, store)
        for store in (
            DatabaseTransactionStore(session_factory(engines[0])),
            DatabaseTransactionStore(session_factory(engines[1])),
        )
    )
    receipts = await asyncio.gather(
        as_retried(lambda: first.lock("c-1:top-up", escrow_id=escrow_id, amount=5)),
        as_retried(lambda: second.lock("c-1:top-up", escrow_id=escrow_id, amount=5)),
    )
    assert receipts[0] == receipts[1]
    assert (await first.get_escrow(escrow_id)).locked == 1_005
    refund = await second.refund("c-1:refund", escrow_id=escrow_id)
    assert refund.amount == 1_005
    # and a retry of the refund from the other process answers from the saved transaction
    assert await first.refund("c-1:refund", escrow_id=escrow_id) == refund


async def test_the_saved_transactions_of_a_nonce_range_come_in_nonce_order(
    engines: list[Engine],
) -> None:
    """What fills a nonce gap (``TransactionSender``): one sender's saved bytes, by nonce."""
    store = DatabaseTransactionStore(session_factory(engines[0]))
    for key, nonce in (("k-5", 5), ("k-3", 3), ("k-4", 4), ("k-7", 7)):
        await store.save(signed(key, nonce, raw=f"0x{nonce:02x}"))
    await store.save(replace(signed("other", 4, raw="0xaa"), sender="0x" + "aa" * 20))
    found = await store.between(SENDER, 3, 6)
    assert [(tx.key, tx.nonce) for tx in found] == [("k-3", 3), ("k-4", 4), ("k-5", 5)]
    assert await store.between(SENDER, 6, 7) == []
