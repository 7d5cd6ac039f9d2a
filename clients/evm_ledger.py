"""Ledger adapter of ``Ledger`` on the escrow contract (``contracts/campaign_escrow.vy``).

Calls go over standard Ethereum JSON-RPC (``web3``), signed here with the service's key
(``eth-account``) and sent through ``clients.evm_transactions``: one signed transaction per
effect key, saved before it is sent, resent as the same bytes, done only with a successful
receipt. The contract adds its own guard: a recipient is paid once per campaign and a
finished batch key is a no-op, so even a second transaction would pay nobody twice.

The escrow's ID is the campaign ID; on chain it is ``keccak(campaign_id)``. A transfer batch
goes in transactions of at most ``recipients_per_transaction`` payouts, each with a batch
key made from its transfer keys, so a retried batch is the same transactions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.logs import DISCARD

from clients.evm_transactions import (
    Call,
    StoredTransaction,
    TransactionSender,
    TransactionStore,
)
from clients.ports import (
    MAX_TRANSFERS_PER_BATCH,
    Escrow,
    InsufficientFunds,
    PermanentError,
    Receipt,
    TransferOrder,
)
from contracts.artifacts import ESCROW, load_artifact

NATIVE_ASSET = "native"
ZERO_ADDRESS = "0x" + "00" * 20
# ~60k gas per fresh native recipient (bench/contract_gas.py): 150 stay under a 15M cap.
RECIPIENTS_PER_TRANSACTION = 150
SHORT_OF_FUNDS = ("insufficient escrow", "insufficient allowance", "insufficient balance")
EVENT_OF_KIND = {
    "escrow": ("EscrowCreated", None),
    "lock": ("Locked", "amount"),
    "refund": ("Refunded", "amount"),
    "close": ("Closed", None),
}


def chain_id_of(escrow_id: str) -> bytes:
    return AsyncWeb3.keccak(text=escrow_id)


def batch_key(escrow_id: str, transfers: Sequence[TransferOrder]) -> str:
    """The same transfers make the same batch key, so a retried batch is the same batch."""
    digest = hashlib.sha256("\n".join(t.key for t in transfers).encode()).hexdigest()
    return f"{escrow_id}:batch:{digest[:32]}"


def _check_amount(key: str, amount: int) -> None:
    if amount <= 0 or amount >= 2**256:
        raise PermanentError(f"{key}: amount {amount} is not a positive uint256", status=422)


def _one(key: str, receipts: list[Receipt]) -> Receipt:
    if len(receipts) != 1:  # the key was spent on chain by a transaction this store lost
        raise PermanentError(f"{key}: its transaction logged no effect", status=409)
    return receipts[0]


class EvmLedger:
    def __init__(
        self,
        w3: AsyncWeb3[Any],
        escrow_address: str,
        account: LocalAccount,
        store: TransactionStore,
        *,
        receipt_timeout: float = 120.0,
        recipients_per_transaction: int = RECIPIENTS_PER_TRANSACTION,
    ) -> None:
        self._escrow: AsyncContract = w3.eth.contract(
            address=AsyncWeb3.to_checksum_address(escrow_address), abi=load_artifact(ESCROW).abi
        )
        self._w3 = w3
        self._store = store
        self._sender = TransactionSender(w3, account, store, receipt_timeout=receipt_timeout)
        self._per_transaction = recipients_per_transaction

    async def aclose(self) -> None:
        """Close the provider's connections (an HTTP provider keeps a session open)."""
        disconnect = getattr(self._w3.provider, "disconnect", None)
        if disconnect is not None:
            await disconnect()

    # --- the port -------------------------------------------------------------------------

    async def create_escrow(
        self, key: str, *, campaign_id: str, owner_wallet: str, asset: str
    ) -> Escrow:
        token = ZERO_ADDRESS if asset == NATIVE_ASSET else asset
        if not (AsyncWeb3.is_address(owner_wallet) and AsyncWeb3.is_address(token)):
            raise PermanentError(
                f"escrow {campaign_id}: owner wallet and asset must be addresses (or native)",
                status=422,
            )
        # web3 encodes only checksummed addresses; a wallet in lower case is as good an address
        checksummed = [
            AsyncWeb3.to_checksum_address(owner_wallet),
            AsyncWeb3.to_checksum_address(token),
        ]
        args = [chain_id_of(campaign_id), *checksummed]
        await self._effect(key, campaign_id, "escrow", "create", args)
        return await self.get_escrow(campaign_id)

    async def lock(self, key: str, *, escrow_id: str, amount: int) -> Receipt:
        state = await self._state(escrow_id)
        value = amount if state["asset"] == ZERO_ADDRESS else 0
        _check_amount(key, amount)
        args = [chain_id_of(escrow_id), AsyncWeb3.keccak(text=key), amount]
        return _one(key, await self._effect(key, escrow_id, "lock", "lock", args, value=value))

    async def transfer_batch(
        self, escrow_id: str, transfers: Sequence[TransferOrder]
    ) -> list[Receipt]:
        if len(transfers) > MAX_TRANSFERS_PER_BATCH:
            raise ValueError(f"{len(transfers)} transfers; the most is {MAX_TRANSFERS_PER_BATCH}")
        for order in transfers:
            _check_amount(order.key, order.amount)
            if not AsyncWeb3.is_address(order.to):
                raise PermanentError(f"{order.key}: {order.to!r} is not an address", status=422)
        receipts: list[Receipt] = []
        refused: list[str] = []
        for start in range(0, len(transfers), self._per_transaction):
            chunk = transfers[start : start + self._per_transaction]
            paid = await self._pay_chunk(escrow_id, chunk)
            receipts += [paid[t.key] for t in chunk if t.key in paid]
            refused += [t.key for t in chunk if t.key not in paid]
        if refused:
            # The paid ones are on chain and found again by key when the caller splits.
            raise PermanentError(
                f"escrow {escrow_id}: the contract did not pay {', '.join(refused)} "
                "(the wallet was paid under another key, or refused the coin)",
                status=409,
                type="payout-refused",
            )
        return receipts

    async def refund(self, key: str, *, escrow_id: str) -> Receipt:
        return _one(
            key, await self._effect(key, escrow_id, "refund", "refund", [chain_id_of(escrow_id)])
        )

    async def close(self, key: str, *, escrow_id: str) -> Escrow:
        await self._effect(key, escrow_id, "close", "close", [chain_id_of(escrow_id)])
        return await self.get_escrow(escrow_id)

    async def get_escrow(self, escrow_id: str) -> Escrow:
        state = await self._state(escrow_id)
        if state["owner"] == ZERO_ADDRESS:
            raise PermanentError(f"escrow {escrow_id} does not exist", status=404)
        created = [tx.key for tx in await self._store.of_escrow(escrow_id) if tx.kind == "escrow"]
        locked, paid, refunded = state["locked"], state["paid"], state["refunded"]
        return Escrow(
            id=escrow_id,
            key=created[0] if created else f"{escrow_id}:escrow",
            campaign_id=escrow_id,
            owner_wallet=state["owner"],
            asset=NATIVE_ASSET if state["asset"] == ZERO_ADDRESS else state["asset"],
            locked=locked,
            paid=paid,
            refunded=refunded,
            balance=locked - paid - refunded,
            closed=state["closed"],
        )

    async def lookup(self, key: str) -> Receipt | None:
        """The receipt of a key whose transaction was mined; None if none was ever saved."""
        for tx in await self._store.carrying(key):
            mined = await self._sender.mined(tx)
            if mined is not None and mined["status"] == 1:
                found = [r for r in self._receipts(tx, mined) if r.key == key]
                if found:
                    return found[0]
        return None

    # --- the contract ---------------------------------------------------------------------

    async def _pay_chunk(
        self, escrow_id: str, chunk: Sequence[TransferOrder]
    ) -> dict[str, Receipt]:
        key = batch_key(escrow_id, chunk)
        args = [
            chain_id_of(escrow_id),
            AsyncWeb3.keccak(text=key),
            [AsyncWeb3.to_checksum_address(t.to) for t in chunk],
            [t.amount for t in chunk],
        ]
        covers = tuple((t.key, AsyncWeb3.to_checksum_address(t.to)) for t in chunk)
        paid = {r.key: r for r in await self._effect(key, escrow_id, "payout", "pay", args, covers)}
        for order in chunk:  # skipped as paid before: by an earlier batch of ours, same key?
            if order.key not in paid and (earlier := await self.lookup(order.key)) is not None:
                paid[order.key] = earlier
        return paid

    async def _effect(
        self,
        key: str,
        escrow_id: str,
        kind: str,
        function: str,
        args: list[Any],
        covers: tuple[tuple[str, str], ...] = (),
        *,
        value: int = 0,
    ) -> list[Receipt]:
        data = self._escrow.encode_abi(function, args=args)
        call = Call(key, escrow_id, kind, self._escrow.address, data, value, covers)
        try:
            tx, mined = await self._sender.send_once(call)
        except InsufficientFunds:
            raise
        except PermanentError as error:
            if error.detail in SHORT_OF_FUNDS:
                raise InsufficientFunds(str(error), status=409, detail=error.detail) from error
            raise
        return self._receipts(tx, mined)

    async def _state(self, escrow_id: str) -> dict[str, Any]:
        fields = await self._escrow.functions.escrows(chain_id_of(escrow_id)).call()
        names = ("owner", "asset", "locked", "paid", "refunded", "settled", "closed")
        return dict(zip(names, fields, strict=True))

    def _receipts(self, tx: StoredTransaction, mined: Any) -> list[Receipt]:
        """The port's receipts, read from the transaction's events."""

        def logs(event: str) -> list[Any]:
            return list(getattr(self._escrow.events, event)().process_receipt(mined, DISCARD))

        def made(log: Any, key: str, amount: int, to: str | None = None) -> Receipt:
            receipt_id = f"{tx.hash}:{log['logIndex']}"
            return Receipt(receipt_id, key, tx.kind, tx.escrow_id, int(amount), to)

        if tx.kind == "payout":
            # a wallet twice in one batch is paid for its first key only (the contract skips)
            keys_of: dict[str, list[str]] = {}
            for key, wallet in tx.covers:
                keys_of.setdefault(wallet, []).append(key)
            receipts = []
            for log in logs("Paid"):
                wallet = log["args"]["recipient"]
                if keys_of.get(wallet):
                    receipts.append(
                        made(log, keys_of[wallet].pop(0), log["args"]["amount"], wallet)
                    )
            return receipts
        if tx.kind not in EVENT_OF_KIND:
            return []
        event, amount_field = EVENT_OF_KIND[tx.kind]
        return [
            made(log, tx.key, log["args"][amount_field] if amount_field else 0)
            for log in logs(event)[:1]
        ]
