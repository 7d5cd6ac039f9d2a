"""The sandbox's chain in its state file: stopped and started on the same file, the chain is
the same chain (escrows, balances, events, every receipt), and a transaction sent again after
the restart is resolved by its receipt, never paid twice."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from eth_typing import HexStr
from web3 import AsyncWeb3
from web3.types import RPCEndpoint

from clients.evm_ledger import NATIVE_ASSET
from clients.evm_transactions import MemoryTransactionStore
from clients.http import make_http_client
from clients.ports import TransferOrder
from sandbox.app import create_app
from sandbox.evm_journal import ChainJournalError
from sandbox.persistence import SandboxStore
from tests.evm.chain import fresh_addresses
from tests.evm.sandbox_chain import SandboxChain, sandbox_chain
from tests.helpers import serve_asgi
from tests.sandbox.world import SandboxWorld


@contextlib.asynccontextmanager
async def chain_on(state_file: Path, store: MemoryTransactionStore) -> AsyncIterator[SandboxChain]:
    async with (
        serve_asgi(create_app(state_file)) as url,
        make_http_client() as http,
        sandbox_chain(SandboxWorld(url=url, http=http)) as chain,
    ):
        chain.store = store  # the worker's store outlives the sandbox
        yield chain


async def picture(chain: SandboxChain, people: list[str]) -> dict[str, Any]:
    """Everything a restart must keep, as plain values."""
    ledger = chain.ledger()
    receipts = {}
    for tx in await chain.store.of_escrow("c-1"):
        receipt: dict[str, Any] = dict(await chain.w3.eth.get_transaction_receipt(HexStr(tx.hash)))
        receipt["logs"] = [dict(log) for log in receipt["logs"]]
        receipts[tx.hash] = receipt
    return {
        "escrow": await ledger.get_escrow("c-1"),
        "balances": [
            await chain.w3.eth.get_balance(AsyncWeb3.to_checksum_address(p)) for p in people
        ],
        "events": (await chain.world.control("GET", "/truth/chain?campaign_id=c-1"))["events"],
        "receipts": receipts,
        "head": dict(await chain.w3.eth.get_block("latest")),
    }


async def test_a_restarted_sandbox_keeps_its_chain_and_pays_nobody_twice(tmp_path: Path) -> None:
    state_file, store = tmp_path / "sandbox.db", MemoryTransactionStore()
    owner, *recipients = fresh_addresses(3)
    orders = [TransferOrder(f"c-1:payout:{i}", to, 100 + i) for i, to in enumerate(recipients)]
    async with chain_on(state_file, store) as chain:
        ledger = chain.ledger()
        await ledger.create_escrow(
            "c-1:escrow", campaign_id="c-1", owner_wallet=owner, asset=NATIVE_ASSET
        )
        await ledger.lock("c-1:lock", escrow_id="c-1", amount=1_000)
        paid = await ledger.transfer_batch("c-1", orders)
        before = await picture(chain, [owner, *recipients])
    assert len(before["receipts"]) == 3  # escrow, lock, batch
    assert [e["kind"] for e in before["events"]].count("payout") == 2

    async with chain_on(state_file, store) as chain:
        assert await picture(chain, [owner, *recipients]) == before
        [batch] = [tx for tx in await store.of_escrow("c-1") if tx.kind == "payout"]
        with pytest.raises(Exception, match="nonce"):  # the node refuses the mined bytes
            await chain.w3.eth.send_raw_transaction(HexStr(batch.raw))
        again = await chain.ledger().transfer_batch("c-1", orders)  # resends, then receipts
        assert again == paid
        assert await picture(chain, [owner, *recipients]) == before
        # and the chain goes on from where it was: the refund is the next transaction
        refund = await chain.ledger().refund("c-1:refund", escrow_id="c-1")
        assert refund.amount == 1_000 - 201
        events = (await chain.world.control("GET", "/truth/chain?campaign_id=c-1"))["events"]
        assert [e["kind"] for e in events][-1] == "refund"


async def test_a_journal_that_does_not_replay_is_a_clear_error(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox.db"
    async with chain_on(state_file, MemoryTransactionStore()) as chain:
        mined = await chain.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        assert "result" in mined
    with sqlite3.connect(state_file) as db:
        db.execute("UPDATE evm_calls SET result = '\"0xdifferent\"'")
    with pytest.raises(ChainJournalError, match=r"evm_mine.*delete the file"):
        create_app(state_file)  # the chain is replayed as the app is made


async def test_a_state_file_from_before_the_journal_opens_with_a_fresh_chain(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "sandbox.db"
    SandboxStore(state_file).close()  # what a sandbox without the chain's journal wrote
    async with chain_on(state_file, MemoryTransactionStore()) as chain:
        assert await chain.w3.eth.get_code(chain.info["escrow_address"]) != b""
        assert await chain.world.control("GET", "/truth/chain") == {"events": []}
    with sqlite3.connect(state_file) as db:
        assert db.execute("SELECT count(*) FROM evm_calls").fetchone() == (0,)
