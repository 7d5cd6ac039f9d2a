"""The chain's ground truth: what the escrow contract did, read from its own events.

The contract logs every effect (``contracts/campaign_escrow.vy``), so the truth is the logs,
never a record the service keeps. Each event becomes one document shaped like the HTTP
ledger's transfers where it can be: ``kind`` (escrow, lock, payout, payout-skipped,
payout-failed, batch, refund, close), ``campaign`` (the on-chain ID, ``keccak(campaign_id)``),
``key`` (the lock's key hash or the batch key hash), ``amount`` and ``to``, with the
transaction hash, block and log index that prove it.
"""

from __future__ import annotations

from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from contracts.artifacts import ESCROW, load_artifact

# event name -> (kind, the field that is its key, the field that is its amount, recipient)
EVENT_SHAPES: dict[str, tuple[str, str | None, str | None, str | None]] = {
    "EscrowCreated": ("escrow", None, None, "owner"),
    "Locked": ("lock", "key", "amount", None),
    "Paid": ("payout", "batch", "amount", "recipient"),
    "PayoutSkipped": ("payout-skipped", "batch", "paid_before", "recipient"),
    "PayoutFailed": ("payout-failed", "batch", "amount", "recipient"),
    "BatchPaid": ("batch", "batch", "amount", None),
    "Refunded": ("refund", None, "amount", "owner"),
    "Closed": ("close", None, None, None),
}


def campaign_hash(campaign_id: str) -> str:
    """The campaign's ID on chain, as the adapter makes it (``clients.evm_ledger``)."""
    return Web3.keccak(text=campaign_id).to_0x_hex()


def key_hash(key: str) -> str:
    """An effect key as the contract logs it (a lock's key, a batch's key)."""
    return Web3.keccak(text=key).to_0x_hex()


def _hex(value: Any) -> str:
    return HexBytes(value).to_0x_hex()


def _document(name: str, log: Any) -> dict[str, Any]:
    kind, key_field, amount_field, to_field = EVENT_SHAPES[name]
    args = log["args"]
    return {
        "kind": kind,
        "event": name,
        "campaign": _hex(args["campaign"]),
        "key": _hex(args[key_field]) if key_field else None,
        "amount": int(args[amount_field]) if amount_field else None,
        "to": str(args[to_field]) if to_field else None,
        "tx_hash": _hex(log["transactionHash"]),
        "block": int(log["blockNumber"]),
        "log_index": int(log["logIndex"]),
    }


def escrow_contract(w3: Web3, escrow_address: str) -> Contract:
    address = Web3.to_checksum_address(escrow_address)
    return w3.eth.contract(address=address, abi=load_artifact(ESCROW).abi)


def chain_events(w3: Web3, escrow_address: str, campaign_id: str | None) -> list[dict[str, Any]]:
    """Every event of the escrow (of one campaign if ``campaign_id``), in chain order."""
    escrow = escrow_contract(w3, escrow_address)
    wanted = campaign_hash(campaign_id) if campaign_id is not None else None
    events = [
        _document(name, log)
        for name in EVENT_SHAPES
        for log in getattr(escrow.events, name)().get_logs(from_block=0)
    ]
    if wanted is not None:
        events = [event for event in events if event["campaign"] == wanted]
    return sorted(events, key=lambda event: (event["block"], event["log_index"]))
