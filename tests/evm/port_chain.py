"""An async chain for the ``EvmLedger`` port tests: py-evm behind web3's async provider, the
escrow deployed for a service key the adapter signs with, and a provider that loses answers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.providers.eth_tester import AsyncEthereumTesterProvider
from web3.types import RPCEndpoint, RPCResponse, Wei

from clients.evm_ledger import EvmLedger
from clients.evm_transactions import MemoryTransactionStore, StoredTransaction
from contracts.artifacts import ESCROW, TEST_TOKEN, load_artifact

SERVICE_KEY = "0x" + "5e" * 32


class LosingProvider(AsyncEthereumTesterProvider):
    """Delivers the request, then loses the answer for the next ``lose`` raw sends."""

    lose = 0

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        # Yield as a network call would, so concurrent callers really interleave.
        await asyncio.sleep(0)
        answer = await super().make_request(method, params)
        if method == "eth_sendRawTransaction" and self.lose > 0:
            self.lose -= 1
            raise ConnectionError("the node's answer was lost")
        return answer


@dataclass
class CrashingStore(MemoryTransactionStore):
    """Saves, then dies before the caller hears of it, the next ``crash`` times."""

    crash: int = 0
    crashes: list[str] = field(default_factory=list)

    async def reserve_nonce(self, sender: str, chain_nonce: int) -> int:
        # Yield as a database call would, so two workers' reservations really interleave.
        await asyncio.sleep(0)
        return await super().reserve_nonce(sender, chain_nonce)

    async def save(self, tx: StoredTransaction) -> StoredTransaction:
        saved = await super().save(tx)
        if self.crash > 0:
            self.crash -= 1
            self.crashes.append(tx.key)
            raise RuntimeError("the worker died right after saving")
        return saved


@dataclass
class PortChain:
    w3: AsyncWeb3[Any]
    provider: LosingProvider
    service: LocalAccount
    funder: str
    escrow: AsyncContract
    store: CrashingStore

    def ledger(self, **options: Any) -> EvmLedger:
        return EvmLedger(self.w3, self.escrow.address, self.service, self.store, **options)

    async def coin(self, address: str) -> int:
        return int(await self.w3.eth.get_balance(AsyncWeb3.to_checksum_address(address)))

    async def sent_by_service(self) -> int:
        return int(await self.w3.eth.get_transaction_count(self.service.address))

    async def transact(self, call: Any, sender: str) -> None:
        receipt = await self.w3.eth.wait_for_transaction_receipt(
            await call.transact({"from": sender})
        )
        assert receipt["status"] == 1

    async def deploy(self, name: str, *args: Any) -> AsyncContract:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx = await factory.constructor(*args).transact({"from": self.funder})
        receipt = await self.w3.eth.wait_for_transaction_receipt(tx)
        address = receipt["contractAddress"]
        assert address is not None
        return self.w3.eth.contract(address=address, abi=artifact.abi)

    async def token_for(self, owner: str, minted: int) -> AsyncContract:
        token = await self.deploy(TEST_TOKEN, "Test Token", "TEST", 6)
        await self.transact(token.functions.mint(owner, minted), self.funder)
        return token


async def new_port_chain() -> PortChain:
    provider = LosingProvider()
    w3 = AsyncWeb3(provider)
    funder = (await w3.eth.accounts)[0]
    service = Account.from_key(SERVICE_KEY)
    funding = await w3.eth.send_transaction(
        {"from": funder, "to": service.address, "value": Wei(10**21)}
    )
    await w3.eth.wait_for_transaction_receipt(funding)
    artifact = load_artifact(ESCROW)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    deployed = await w3.eth.wait_for_transaction_receipt(
        await factory.constructor(service.address).transact({"from": funder})
    )
    address = deployed["contractAddress"]
    assert address is not None
    escrow = w3.eth.contract(address=address, abi=artifact.abi)
    return PortChain(w3, provider, service, funder, escrow, CrashingStore())
