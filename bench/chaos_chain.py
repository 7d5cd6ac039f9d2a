"""The chain's ground truth of a chaos run (``--ledger evm``), in the shapes the checks read
from the HTTP ledger: transfers ``{kind, key, escrow, amount, to}`` and escrow documents.

Everything comes from ``GET /sandbox/truth/chain``, the escrow contract's own events. On
chain a key is only its keccak, so the keys the run can name (the lock, the top-ups, the
refund) are matched by hash; a lock under a key nobody named keeps its hash (and still counts
in the campaign's totals). A payout's key is made from the user its recipient's wallet belongs
to: the contract pays a wallet at most once per campaign, so the users' check is the wallets'
check, and a wallet no eligible user owns is named as such.
"""

from __future__ import annotations

from typing import Any

from chaos_world import Api, CampaignRun
from web3 import Web3


def _hash(text: str) -> str:
    return Web3.keccak(text=text).to_0x_hex()


def _named_keys(run: CampaignRun) -> dict[str, str]:
    """The key hashes this campaign's locks can carry, with their keys."""
    cid = run.campaign_id
    keys = [f"{cid}:lock", *(f"{cid}:top-up:{key}" for key, _ in run.plan.top_ups)]
    return {_hash(key): key for key in keys}


def _transfer(run: CampaignRun, event: dict[str, Any]) -> dict[str, Any] | None:
    cid, kind = run.campaign_id, event["kind"]
    if kind == "lock":
        key = _named_keys(run).get(event["key"], f"{cid}:unnamed-lock:{event['key']}")
    elif kind == "payout":
        user_of = {wallet: user for user, wallet in run.plan.eligible.items()}
        key = f"{cid}:payout:{user_of.get(event['to'], 'not-eligible-' + str(event['to']))}"
    elif kind == "refund":
        key = f"{cid}:refund"
    else:
        return None
    return {"kind": kind, "key": key, "escrow": cid, "amount": event["amount"], "to": event["to"]}


def _escrow(run: CampaignRun, events: list[dict[str, Any]]) -> dict[str, Any]:
    def total(kind: str) -> int:
        return sum(int(e["amount"]) for e in events if e["kind"] == kind)

    return {
        "id": run.campaign_id,  # on chain the escrow's ID is the campaign's
        "campaign_id": run.campaign_id,
        "locked": total("lock"),
        "paid": total("payout"),
        "refunded": total("refund"),
        "closed": any(e["kind"] == "close" for e in events),
        "skipped": sum(1 for e in events if e["kind"] == "payout-skipped"),
    }


async def collect_chain(
    api: Api, runs: list[CampaignRun]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    events = (await api.sandbox("GET", "/sandbox/truth/chain"))["events"]
    transfers: list[dict[str, Any]] = []
    escrows: dict[str, dict[str, Any]] = {}
    for run in runs:
        mine = [e for e in events if e["campaign"] == _hash(run.campaign_id)]
        transfers += [t for e in mine if (t := _transfer(run, e)) is not None]
        if any(e["kind"] == "escrow" for e in mine):
            escrows[run.campaign_id] = _escrow(run, mine)
    return transfers, escrows
