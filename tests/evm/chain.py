"""A fresh in-process EVM (py-evm through web3's EthereumTesterProvider) with the escrow deployed.

Accounts: ``service`` deploys the escrow and is its only caller; ``owner`` owns campaigns;
``stranger`` is anyone else. Recipients are fresh addresses with no balance, so a recipient's
balance is exactly what the escrow paid it.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_tester.exceptions import TransactionFailed
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD
from web3.types import TxReceipt

from contracts.artifacts import ESCROW, TEST_TOKEN, Artifact, load_artifact

NATIVE = "0x" + "00" * 20
REFUSER_SOURCE = """
# pragma version ~=0.4.3
@external
@payable
def __default__():
    raise "refused"
"""
# a contract wallet whose receive hook writes storage: more than the 2,300 gas stipend
WALLET_SOURCE = """
# pragma version ~=0.4.3
received: public(uint256)
@external
@payable
def __default__():
    self.received += msg.value
"""
# a token that keeps 1% of every transfer: the escrow must notice it holds less
FEE_TOKEN_SOURCE = """
# pragma version ~=0.4.3
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
@deploy
def __init__():
    self.balanceOf[msg.sender] = 10**9
@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    return True
@external
def transfer(receiver: address, amount: uint256) -> bool:
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[receiver] += amount - amount // 100
    return True
@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    self.allowance[sender][msg.sender] -= amount
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount - amount // 100
    return True
"""
# a recipient that burns whatever gas it is given
BURNER_SOURCE = """
# pragma version ~=0.4.3
count: uint256
@external
@payable
def __default__():
    for i: uint256 in range(1000000):
        self.count += 1
"""


def deploy(w3: Web3, artifact: Artifact, *args: Any, sender: str) -> Contract:
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor(*args).transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    address = receipt["contractAddress"]
    assert address is not None
    return w3.eth.contract(address=address, abi=artifact.abi)


def key32(text: str) -> bytes:
    """A business key as the bytes32 the contract takes."""
    return Web3.keccak(text=text)


def fresh_addresses(count: int) -> list[str]:
    return [Account.create(secrets.token_hex(8)).address for _ in range(count)]


@dataclass
class Chain:
    w3: Web3
    escrow: Contract
    service: str
    owner: str
    stranger: str

    def send(self, call: Any, *, sender: str | None = None, value: int = 0) -> TxReceipt:
        """Send a contract call as a transaction and wait for its receipt."""
        tx_hash = call.transact({"from": sender or self.service, "value": value})
        return self.w3.eth.wait_for_transaction_receipt(tx_hash)

    def events(self, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
        event = getattr(self.escrow.events, name)()
        return [dict(log["args"]) for log in event.process_receipt(receipt, errors=DISCARD)]

    def deploy_token(self) -> Contract:
        return deploy(
            self.w3, load_artifact(TEST_TOKEN), "Test Token", "TEST", 6, sender=self.service
        )

    def coin(self, address: str) -> int:
        """The native balance of an address."""
        return int(self.w3.eth.get_balance(Web3.to_checksum_address(address)))

    def deploy_refuser(self) -> str:
        """A contract that refuses every coin sent to it (a hostile or broken wallet)."""
        return self.deploy_source(REFUSER_SOURCE)

    def deploy_source(self, source: str, sender: str | None = None) -> str:
        """Compile and deploy a small test contract; its address."""
        import vyper

        out = vyper.compile_code(source, output_formats=["abi", "bytecode"])
        factory = self.w3.eth.contract(abi=out["abi"], bytecode=out["bytecode"])
        tx_hash = factory.constructor().transact({"from": sender or self.service})
        address = self.w3.eth.wait_for_transaction_receipt(tx_hash)["contractAddress"]
        return str(address)

    def escrow_state(self, campaign: bytes) -> dict[str, Any]:
        fields = self.escrow.functions.escrows(campaign).call()
        owner, asset, locked, paid, refunded, settled, closed = fields
        return {
            "owner": owner,
            "asset": asset,
            "locked": locked,
            "paid": paid,
            "refunded": refunded,
            "settled": settled,
            "closed": closed,
        }


def new_chain() -> Chain:
    w3 = Web3(EthereumTesterProvider())
    accounts = list(w3.eth.accounts)
    service, owner, stranger = accounts[0], accounts[1], accounts[2]
    escrow = deploy(w3, load_artifact(ESCROW), service, sender=service)
    return Chain(w3=w3, escrow=escrow, service=service, owner=owner, stranger=stranger)


@contextlib.contextmanager
def reverts(reason: str) -> Iterator[None]:
    """The block must revert with ``reason`` (the contract's assert message)."""
    with pytest.raises((ContractLogicError, TransactionFailed)) as raised:
        yield
    assert reason in str(raised.value), f"reverted for another reason: {raised.value}"
