"""The sandbox's chain over real HTTP: an ``EvmLedger`` on ``web3.AsyncHTTPProvider`` at the
sandbox's ``/evm``, signing with the sandbox's documented service key."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract

from clients.evm_ledger import EvmLedger
from clients.evm_transactions import MemoryTransactionStore, TransactionStore
from contracts.artifacts import TEST_TOKEN, load_artifact
from tests.sandbox.world import SandboxWorld


@dataclass
class SandboxChain:
    world: SandboxWorld
    info: dict[str, Any]
    w3: AsyncWeb3[Any]
    store: TransactionStore = field(default_factory=MemoryTransactionStore)

    def ledger(self, **options: Any) -> EvmLedger:
        service = Account.from_key(self.info["service_dev_private_key"])
        return EvmLedger(self.w3, self.info["escrow_address"], service, self.store, **options)

    @property
    def token(self) -> AsyncContract:
        address = AsyncWeb3.to_checksum_address(self.info["token_address"])
        return self.w3.eth.contract(address=address, abi=load_artifact(TEST_TOKEN).abi)

    async def approve(self, owner: str, amount: int) -> None:
        """The owner lets the escrow take ``amount`` of its test tokens (a lock pulls them)."""
        escrow = AsyncWeb3.to_checksum_address(self.info["escrow_address"])
        sent = await self.token.functions.approve(escrow, amount).transact({"from": owner})
        assert (await self.w3.eth.wait_for_transaction_receipt(sent))["status"] == 1

    async def token_balance(self, address: str) -> int:
        checksummed = AsyncWeb3.to_checksum_address(address)
        return int(await self.token.functions.balanceOf(checksummed).call())


@contextlib.asynccontextmanager
async def sandbox_chain(world: SandboxWorld, **options: Any) -> AsyncIterator[SandboxChain]:
    """``options``: of web3's ``AsyncHTTPProvider``."""
    info = await world.control("GET", "/evm")
    provider = AsyncHTTPProvider(f"{world.url}{info['rpc_path']}", **options)
    try:
        yield SandboxChain(world, info, AsyncWeb3(provider))
    finally:
        await provider.disconnect()  # its aiohttp session
