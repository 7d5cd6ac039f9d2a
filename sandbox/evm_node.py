"""An in-process Ethereum node for the sandbox: py-evm through eth-tester, reached with
web3's ``EthereumTesterProvider`` request mapping, answering standard JSON-RPC.

Nothing here is a hand-written node: each request goes to the provider (with its own
middleware, which turns eth-tester's Python answers into JSON-RPC field names), and the
answer is then encoded the way a node puts it on the wire (quantities as hex strings).

At its start the node funds the service account (a *documented development key*: never use
it anywhere but here), deploys the escrow contract with the service as its operator and the
test ERC-20 (6 decimals), and mints that token to the owner wallets (eth-tester's own
unlocked accounts, which can send ``eth_sendTransaction``, e.g. an ``approve``).

With a journal (a state file) the node then replays the calls it took before
(``sandbox.evm_journal``) and journals each new one before answering it, so the chain
survives a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_tester import EthereumTester
from eth_tester.exceptions import TransactionFailed, ValidationError
from eth_utils.exceptions import ValidationError as ChainRefusal
from hexbytes import HexBytes
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint, Wei

from contracts.artifacts import ESCROW, TEST_TOKEN, load_artifact
from sandbox.evm_backend import RepeatableBackend
from sandbox.evm_journal import JOURNALED_METHODS, ChainJournal, ChainJournalError
from sandbox.evm_truth import chain_events

# Anvil's and Hardhat's first development key, published everywhere: a sandbox-only key.
SERVICE_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
SERVICE_FUNDING = Wei(10**23)  # a tenth of what eth-tester gives its accounts
OWNER_TOKEN_FUNDING = 10**15  # 1e9 TEST at 6 decimals
OWNER_WALLETS = 5
# The methods a client may call: the standard namespaces, plus evm_mine for tests.
ALLOWED_NAMESPACES = ("eth_", "net_", "web3_")
ALLOWED_METHODS = {"evm_mine"}
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string), as Solidity and Vyper revert

INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601
SERVER_ERROR = -32000  # geth's code for a transaction it will not take
EXECUTION_REVERTED = 3  # what geth answers for a reverted call or estimate


class RpcFailure(Exception):
    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            self.error["data"] = data


def wire(value: Any, field: str | None = None) -> Any:
    """A Python answer as a node would send it: ints as hex quantities, bytes as hex data."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if field == "logsBloom":  # eth-tester keeps an empty bloom as 0; it is 256 bytes
            return "0x" + value.to_bytes(256, "big").hex()
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return HexBytes(value).to_0x_hex()
    if isinstance(value, Mapping):  # web3's AttributeDict is a Mapping, not a dict
        return {key: wire(item, key) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [wire(item) for item in value]
    return str(value)


@dataclass(frozen=True)
class EvmInfo:
    chain_id: int
    escrow_address: str
    token_address: str
    service_address: str
    owner_wallets: list[str]


class EvmNode:
    def __init__(self, journal: ChainJournal | None = None) -> None:
        genesis = journal.genesis_timestamp if journal is not None else int(time.time())
        tester = EthereumTester(backend=RepeatableBackend(genesis))
        self.w3 = Web3(EthereumTesterProvider(tester))
        self._request = self.w3.provider.request_func(  # type: ignore[attr-defined]
            self.w3, self.w3.middleware_onion
        )
        self._lock = threading.Lock()  # one request at a time: the chain is one py-evm state
        self.info = self._set_up()
        self._journal = journal
        self.replayed = self._replay() if journal is not None else 0

    def close(self) -> None:
        """Close the journal once no request is writing it."""
        with self._lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    def call(self, method: str, params: list[Any]) -> Any:
        """The result of one JSON-RPC call, wire-encoded; raises ``RpcFailure``."""
        if not (method.startswith(ALLOWED_NAMESPACES) or method in ALLOWED_METHODS):
            raise RpcFailure(METHOD_NOT_FOUND, f"the method {method} does not exist")
        try:
            with self._lock:
                answer = self._request(RPCEndpoint(method), params)
                journal = self._journal
                if journal is not None and method in JOURNALED_METHODS and "error" not in answer:
                    # on disk before the answer leaves: a confirmed transaction is kept (if
                    # the write fails the answer is an error, and the client's resend of the
                    # same signed bytes is taken again after a restart)
                    journal.record(method, params, wire(answer.get("result")))
        except TransactionFailed as failed:
            message = str(failed.args[0]) if failed.args else "execution reverted"
            reason = message.split("execution reverted:", 1)[-1].strip()
            data = ERROR_STRING_SELECTOR + encode(["string"], [reason])
            raise RpcFailure(EXECUTION_REVERTED, message, "0x" + data.hex()) from failed
        except ChainRefusal as refused:  # py-evm's own checks: funds for gas, nonce, ...
            raise RpcFailure(SERVER_ERROR, str(refused)) from refused
        except (ValidationError, ValueError, TypeError, AttributeError, KeyError) as bad:
            raise RpcFailure(INVALID_PARAMS, f"invalid params for {method}: {bad}") from bad
        if "error" in answer:
            error = answer["error"]
            if isinstance(error, dict):
                raise RpcFailure(int(error.get("code", -32000)), str(error.get("message")))
            raise RpcFailure(-32000, str(error))
        return wire(answer.get("result"))

    def events(self, campaign_id: str | None = None) -> list[dict[str, Any]]:
        """The escrow's events (``sandbox.evm_truth``), read under the node's lock."""
        with self._lock:
            return chain_events(self.w3, self.info.escrow_address, campaign_id)

    def _replay(self) -> int:
        """The journaled calls again, in order; each must answer as it did the first time."""
        assert self._journal is not None
        calls = self._journal.calls()
        for number, call in enumerate(calls, 1):
            try:
                answer = self._request(RPCEndpoint(call.method), call.params)
                result = answer["error"] if "error" in answer else wire(answer.get("result"))
            except Exception as error:
                result = f"{type(error).__name__}: {error}"
            if result != call.result:
                raise ChainJournalError(
                    f"sandbox state file {self._journal.path}: chain call {number} "
                    f"({call.method}) answered {result!r} on replay, {call.result!r} before; "
                    "delete the file to start over"
                )
        return len(calls)

    def _set_up(self) -> EvmInfo:
        w3 = self.w3
        funder, *others = list(w3.eth.accounts)
        service = Account.from_key(SERVICE_DEV_KEY)
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction(
                {"from": funder, "to": service.address, "value": SERVICE_FUNDING}
            )
        )
        escrow = self._deploy(ESCROW, funder, service.address)
        token = self._deploy(TEST_TOKEN, funder, "Test Token", "TEST", 6)
        owners = [str(owner) for owner in others[:OWNER_WALLETS]]
        minter = w3.eth.contract(
            address=Web3.to_checksum_address(token), abi=load_artifact(TEST_TOKEN).abi
        )
        for owner in owners:
            sent = minter.functions.mint(owner, OWNER_TOKEN_FUNDING).transact({"from": funder})
            w3.eth.wait_for_transaction_receipt(sent)
        return EvmInfo(w3.eth.chain_id, escrow, token, service.address, owners)

    def _deploy(self, name: str, sender: str, *args: Any) -> str:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        sent = factory.constructor(*args).transact({"from": sender})
        address = self.w3.eth.wait_for_transaction_receipt(sent)["contractAddress"]
        assert address is not None, f"{name} was not deployed"
        return str(address)
