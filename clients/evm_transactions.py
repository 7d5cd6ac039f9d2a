"""Signed transactions that are sent exactly once: the half of the EVM ledger that knows
nothing of the escrow (``clients.evm_ledger`` is the other).

A transaction is signed once per effect key and its bytes and hash are saved in the
``TransactionStore`` *before* they are sent; every later attempt resends those same bytes, so
a lost response or a crash after the send can never make a second transaction. A send that
errors is judged by the chain (our hash known there means it was sent), never by signing
again; an effect is done only with a successful receipt.

Nonces come from the store, reserved in the same all-or-nothing step that saves the signed
transaction (``save_signed``): a worker killed halfway, or a rival that saved the key first,
spends no nonce, so no gap ever blocks the transactions after it. Everything asked of the node
(gas, fees, the chain's nonce) is asked before that step for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3 import AsyncWeb3
from web3.exceptions import ContractLogicError, TransactionNotFound
from web3.types import TxParams, Wei

from clients.ports import PermanentError, RetryableError

RECEIPT_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class StoredTransaction:
    """A signed transaction saved under the key of the effect it carries."""

    key: str
    escrow_id: str
    kind: str  # escrow | lock | payout | refund | close
    sender: str
    nonce: int
    raw: str  # the signed bytes, hex
    hash: str
    # a payout batch: the (transfer key, recipient) pairs it carries
    covers: tuple[tuple[str, str], ...] = ()


class TransactionStore(Protocol):
    """Where signed transactions wait under their keys (the effect table, in the worker)."""

    async def save_signed(
        self, key: str, sender: str, chain_nonce: int, sign: Callable[[int], StoredTransaction]
    ) -> StoredTransaction:
        """The transaction saved under ``key``; if none is, all at once or not at all: reserve
        a nonce never handed out before (at least ``chain_nonce``, above all reserved), sign
        with it (``sign``, local and quick) and save. A rival's save of the key first means
        its transaction, and no nonce spent."""
        ...

    async def save(self, tx: StoredTransaction) -> StoredTransaction:
        """Save ``tx`` unless one is saved under its key; return the saved one (first wins)."""
        ...

    async def carrying(self, key: str) -> list[StoredTransaction]:
        """The transactions saved under ``key`` or covering it, oldest first."""
        ...

    async def of_escrow(self, escrow_id: str) -> list[StoredTransaction]: ...

    async def between(self, sender: str, low: int, high: int) -> list[StoredTransaction]:
        """The saved transactions of ``sender`` with ``low <= nonce < high``, by nonce."""
        ...


@dataclass
class MemoryTransactionStore:
    """A ``TransactionStore`` in memory: for tests, and the sandbox (one process, no restart)."""

    saved: dict[str, StoredTransaction] = field(default_factory=dict)
    next_nonce: dict[str, int] = field(default_factory=dict)

    async def reserve_nonce(self, sender: str, chain_nonce: int) -> int:
        nonce = max(chain_nonce, self.next_nonce.get(sender, 0))
        self.next_nonce[sender] = nonce + 1
        return nonce

    async def save_signed(
        self, key: str, sender: str, chain_nonce: int, sign: Callable[[int], StoredTransaction]
    ) -> StoredTransaction:
        if key in self.saved:
            return self.saved[key]
        # No await between the check and the reservation: nothing else runs in between.
        tx = sign(max(chain_nonce, self.next_nonce.get(sender, 0)))
        self.next_nonce[sender] = tx.nonce + 1
        return await self.save(tx)

    async def save(self, tx: StoredTransaction) -> StoredTransaction:
        return self.saved.setdefault(tx.key, tx)

    async def carrying(self, key: str) -> list[StoredTransaction]:
        return [
            tx
            for tx in self.saved.values()
            if key == tx.key or any(covered == key for covered, _ in tx.covers)
        ]

    async def of_escrow(self, escrow_id: str) -> list[StoredTransaction]:
        return [tx for tx in self.saved.values() if tx.escrow_id == escrow_id]

    async def between(self, sender: str, low: int, high: int) -> list[StoredTransaction]:
        found = [t for t in self.saved.values() if t.sender == sender and low <= t.nonce < high]
        return sorted(found, key=lambda tx: tx.nonce)


@dataclass(frozen=True)
class Call:
    """What one effect sends: a contract call, its value, and what the transaction covers."""

    key: str
    escrow_id: str
    kind: str
    to: str
    data: str
    value: int = 0
    covers: tuple[tuple[str, str], ...] = ()


class TransactionSender:
    def __init__(
        self,
        w3: AsyncWeb3[Any],
        account: LocalAccount,
        store: TransactionStore,
        *,
        receipt_timeout: float = 120.0,
    ) -> None:
        self._w3 = w3
        self._account = account
        self._store = store
        self._receipt_timeout = receipt_timeout
        self._signing = asyncio.Lock()  # one key at a time from reservation to sent

    async def send_once(self, call: Call) -> tuple[StoredTransaction, Any]:
        """The transaction of ``call.key`` (signed and saved now if none is) and its
        successful receipt. A call the chain refuses raises ``PermanentError`` whose
        ``detail`` is the revert reason."""
        tx = await self._saved(call.key)
        if tx is None:
            tx = await self._sign_save_and_submit(call)
            mined = await self._receipt_of(tx)
        else:
            mined = await self._send(tx)
        if mined["status"] != 1:
            raise PermanentError(f"{call.key}: transaction {tx.hash} reverted", status=409)
        return tx, mined

    async def mined(self, tx: StoredTransaction) -> Any:
        """Its receipt, or None while it is not mined (or was never sent)."""
        try:
            return await self._w3.eth.get_transaction_receipt(HexStr(tx.hash))
        except TransactionNotFound:
            return None

    async def _saved(self, key: str) -> StoredTransaction | None:
        return next((t for t in await self._store.carrying(key) if t.key == key), None)

    async def _sign_save_and_submit(self, call: Call) -> StoredTransaction:
        """The saved transaction of ``call.key``, sent. It is sent before the lock is let go,
        so this process hands its nonces to the node in order: a node that takes no nonce
        ahead of the next (py-evm's does not) refuses none when payout batches are paid side
        by side."""
        gas = await self._estimate(call) * 5 // 4
        # Every question to the node comes before the nonce is reserved: a call failing
        # after the reservation would leave a nonce nobody sends, and a gap that blocks
        # every transaction after it.
        fields = await self._fields()
        sender = self._account.address
        chain_nonce = await self._w3.eth.get_transaction_count(sender, "pending")
        async with self._signing:
            saved = await self._store.save_signed(
                call.key, sender, chain_nonce, lambda nonce: self._signed(call, gas, nonce, fields)
            )
            await self._submit(saved)  # a rival's saved bytes, if it won, resent: harmless
        return saved

    async def _fields(self) -> dict[str, Any]:
        """The chain's part of a transaction: its chain ID and fees."""
        latest = await self._w3.eth.get_block("latest")
        tip = await self._w3.eth.max_priority_fee
        return {
            "chainId": await self._w3.eth.chain_id,
            "maxPriorityFeePerGas": tip,
            # twice the base fee: the same bytes stay valid while the base fee rises a while
            "maxFeePerGas": 2 * int(latest.get("baseFeePerGas", 0)) + tip,
        }

    def _signed(
        self, call: Call, gas: int, nonce: int, fields: dict[str, Any]
    ) -> StoredTransaction:
        sender = self._account.address
        body: dict[str, Any] = {
            "type": 2,
            **fields,
            "nonce": nonce,
            "to": call.to,
            "data": call.data,
            "value": call.value,
            "gas": gas,
        }
        signed = self._account.sign_transaction(body)
        raw, tx_hash = signed.raw_transaction.to_0x_hex(), signed.hash.to_0x_hex()
        return StoredTransaction(
            call.key, call.escrow_id, call.kind, sender, nonce, raw, tx_hash, call.covers
        )

    async def _estimate(self, call: Call) -> int:
        """Gas for the call; a call the contract refuses is refused here, before signing."""
        params: TxParams = {
            "from": self._account.address,
            "to": AsyncWeb3.to_checksum_address(call.to),
            "data": HexStr(call.data),
            "value": Wei(call.value),
        }
        try:
            return int(await self._w3.eth.estimate_gas(params))
        except Exception as error:
            # over HTTP a revert is a ContractLogicError whose str() is (message, data)
            message = error.message if isinstance(error, ContractLogicError) else None
            text = message or str(error)
            if "revert" not in text:
                raise RetryableError(f"estimating {call.key}: {text}") from error
            reason = text.split("execution reverted:", 1)[-1].strip()
            raise PermanentError(
                f"{call.key}: the contract refuses: {reason}", status=409, detail=reason
            ) from error

    async def _send(self, tx: StoredTransaction) -> Any:
        """Send the saved bytes (again) and wait for the receipt."""
        await self._submit(tx)
        return await self._receipt_of(tx)

    async def _submit(self, tx: StoredTransaction, *, gap_filled: bool = False) -> None:
        """Send the saved bytes (again). An error from the node is judged by the chain: our
        hash known there means it was sent."""
        try:
            await self._w3.eth.send_raw_transaction(HexStr(tx.raw))
        except Exception as error:
            if await self._known(tx):
                return  # "already known", or "nonce too low" for our own mined transaction
            sender = self._account.address
            if await self._w3.eth.get_transaction_count(sender) > tx.nonce:
                raise PermanentError(
                    f"{tx.key}: nonce {tx.nonce} went to another transaction; not re-signed",
                    status=409,
                ) from error
            expected = await self._w3.eth.get_transaction_count(sender, "pending")
            if not gap_filled and expected < tx.nonce and await self._fill_gap(expected, tx):
                await self._submit(tx, gap_filled=True)
                return
            raise RetryableError(f"{tx.key}: sending {tx.hash}: {error}") from error

    async def _fill_gap(self, expected: int, ours: StoredTransaction) -> bool:
        """Send the saved transactions of the nonces below ours that the chain has not seen:
        their attempts stopped between saving and sending (a killed worker) and may never
        come back. Their own saved bytes, in nonce order, so each effect still happens once
        and nothing is signed anew. False if a nonce of the gap has no saved transaction."""
        waiting = await self._store.between(ours.sender, expected, ours.nonce)
        if [tx.nonce for tx in waiting] != list(range(expected, ours.nonce)):
            return False
        for tx in waiting:
            with contextlib.suppress(Exception):  # judged below, by what the chain holds
                await self._w3.eth.send_raw_transaction(HexStr(tx.raw))
        sender = self._account.address
        return await self._w3.eth.get_transaction_count(sender, "pending") == ours.nonce

    async def _receipt_of(self, tx: StoredTransaction) -> Any:
        deadline = time.monotonic() + self._receipt_timeout
        while (mined := await self.mined(tx)) is None:
            if time.monotonic() > deadline:
                raise RetryableError(f"{tx.key}: {tx.hash} not mined yet")
            await asyncio.sleep(RECEIPT_POLL_SECONDS)
        return mined

    async def _known(self, tx: StoredTransaction) -> bool:
        try:
            await self._w3.eth.get_transaction(HexStr(tx.hash))
        except TransactionNotFound:
            return False
        return True
