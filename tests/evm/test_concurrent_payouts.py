"""Payout batches side by side, as the distribution pays them, on the sandbox's chain over
real HTTP with the worker's database store: every nonce handed out once and in order, none
refused, every recipient paid once.

py-evm refuses a nonce ahead of the next one, so a worker that sent its transactions out of
nonce order would see refusals (and retries) here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from web3 import AsyncWeb3

from activities.evm_store import DatabaseTransactionStore
from clients.evm_ledger import NATIVE_ASSET
from clients.ports import TransferOrder
from core.db import make_engine, session_factory
from tests.evm.chain import fresh_addresses
from tests.evm.sandbox_chain import SandboxChain, sandbox_chain
from tests.sandbox.world import running_sandbox

BATCHES = 4
TRANSACTIONS_PER_BATCH = 3


@pytest.fixture
async def chain(sqlite_url: str) -> AsyncIterator[SandboxChain]:
    engine = make_engine(sqlite_url, pool_size=4)
    try:
        async with running_sandbox() as world, sandbox_chain(world) as chain:
            chain.store = DatabaseTransactionStore(session_factory(engine))
            yield chain
    finally:
        engine.dispose()


async def test_batches_side_by_side_get_distinct_nonces_in_order_and_pay_each_once(
    chain: SandboxChain,
) -> None:
    ledger = chain.ledger(recipients_per_transaction=2)
    owner = chain.info["owner_wallets"][0]
    escrow = await ledger.create_escrow(
        "c-par:escrow", campaign_id="c-par", owner_wallet=owner, asset=NATIVE_ASSET
    )
    await ledger.lock("c-par:lock", escrow_id=escrow.id, amount=1_000)
    service = chain.info["service_address"]
    start = await chain.w3.eth.get_transaction_count(AsyncWeb3.to_checksum_address(service))
    per_batch = 2 * TRANSACTIONS_PER_BATCH
    recipients = fresh_addresses(BATCHES * per_batch)
    batches = [
        [
            TransferOrder(f"c-par:payout:b{b}-{i}", to, 3)
            for i, to in enumerate(recipients[b * per_batch : (b + 1) * per_batch])
        ]
        for b in range(BATCHES)
    ]
    answers = await asyncio.gather(*(ledger.transfer_batch(escrow.id, b) for b in batches))

    assert [[r.key for r in a] for a in answers] == [[o.key for o in b] for b in batches]
    sent = [tx for tx in await chain.store.of_escrow(escrow.id) if tx.kind == "payout"]
    count = BATCHES * TRANSACTIONS_PER_BATCH
    assert sorted(tx.nonce for tx in sent) == list(range(start, start + count))
    checksummed = AsyncWeb3.to_checksum_address(service)
    assert await chain.w3.eth.get_transaction_count(checksummed) == start + count
    balances = [
        await chain.w3.eth.get_balance(AsyncWeb3.to_checksum_address(r)) for r in recipients
    ]
    assert balances == [3] * len(recipients)
    assert (await ledger.get_escrow(escrow.id)).paid == 3 * len(recipients)
