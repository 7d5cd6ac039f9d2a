"""What one campaign's payouts cost on the sandbox's chain, read from the chain itself: the
escrow's events (``GET /sandbox/truth/chain``), then each payout transaction's receipt and its
block over standard JSON-RPC (``/evm``), one batch request each.

Gas per recipient is the payout transactions' gas over the recipients they paid; the block
figures say how close a payout transaction's block comes to the chain's block gas limit.
"""

from __future__ import annotations

from typing import Any

from chaos_world import Api, _ok


async def rpc_batch(api: Api, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """The results of ``calls`` (method, params) in one JSON-RPC batch, in order."""
    if not calls:
        return []
    body = [
        {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
        for i, (method, params) in enumerate(calls)
    ]
    answers = _ok(await api.call("POST", f"{api.sandbox_url}/evm", json=body), "JSON-RPC batch")
    by_id = {answer["id"]: answer for answer in answers}
    missing = [by_id[i] for i in range(len(calls)) if "result" not in by_id[i]]
    if missing:
        raise RuntimeError(f"JSON-RPC refused: {missing[0]}")
    return [by_id[i]["result"] for i in range(len(calls))]


async def chain_payouts(api: Api, campaign_id: str) -> dict[str, Any]:
    """The campaign's payouts on chain: how many, in how many transactions and blocks, the
    gas they used, and the fullest block against its gas limit."""
    truth = _ok(
        await api.call("GET", f"{api.sandbox_url}/sandbox/truth/chain?campaign_id={campaign_id}"),
        "chain truth",
    )
    events = truth["events"]
    paid = [e for e in events if e["kind"] == "payout"]
    hashes = sorted({e["tx_hash"] for e in paid})
    receipts = await rpc_batch(api, [("eth_getTransactionReceipt", [h]) for h in hashes])
    numbers = sorted({r["blockNumber"] for r in receipts})
    blocks = await rpc_batch(api, [("eth_getBlockByNumber", [n, False]) for n in numbers])
    gas = [int(r["gasUsed"], 16) for r in receipts]
    block_gas = [int(b["gasUsed"], 16) for b in blocks]
    limit = max((int(b["gasLimit"], 16) for b in blocks), default=0)
    return {
        "payouts": len(paid),
        "distinct_recipients": len({e["to"] for e in paid}),
        "skipped_or_failed": sum(e["kind"] in ("payout-skipped", "payout-failed") for e in events),
        "transactions": len(hashes),
        "blocks": len(blocks),
        "recipients_per_tx": len(paid) / len(hashes) if hashes else 0.0,
        "gas_total": sum(gas),
        "gas_per_recipient": sum(gas) / len(paid) if paid else 0.0,
        "max_tx_gas": max(gas, default=0),
        "max_block_gas": max(block_gas, default=0),
        "block_gas_limit": limit,
        "max_block_share": max(block_gas, default=0) / limit if limit else 0.0,
    }
