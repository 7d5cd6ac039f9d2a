"""Ledger adapter of ``Ledger``: the escrow API the sandbox serves under ``/ledger``.

Every call carries a business key; the ledger answers a repeated key with the first receipt,
so retrying any call after a lost response is safe. The HTTP API is described in README.md
("Pointing at the real X API and another ledger").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from clients.http import json_or_none, problem_fields, raise_for_status, send
from clients.ports import (
    MAX_TRANSFERS_PER_BATCH,
    Escrow,
    InsufficientFunds,
    Receipt,
    RetryableError,
    TransferOrder,
)


def parse_escrow(body: dict[str, Any]) -> Escrow:
    return Escrow(
        id=str(body["id"]),
        key=str(body["key"]),
        campaign_id=str(body["campaign_id"]),
        owner_wallet=str(body["owner_wallet"]),
        asset=str(body["asset"]),
        locked=int(body["locked"]),
        paid=int(body["paid"]),
        refunded=int(body["refunded"]),
        balance=int(body["balance"]),
        closed=bool(body["closed"]),
    )


def parse_receipt(body: dict[str, Any]) -> Receipt:
    created = body.get("created_at")
    return Receipt(
        id=str(body["id"]),
        key=str(body["key"]),
        kind=str(body["kind"]),
        escrow_id=str(body["escrow_id"]),
        amount=int(body["amount"]),
        to=body.get("to"),
        created_at=datetime.fromisoformat(created) if isinstance(created, str) else None,
    )


class LedgerClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str | None = None) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        what = f"ledger {method} {path}"
        response = await send(
            lambda: self._http.request(
                method, self._base_url + path, json=body, headers=self._headers
            ),
            what,
        )
        if response.status_code in (402, 409, 422):
            type_, detail, _ = problem_fields(json_or_none(response))
            if type_ and type_.endswith("insufficient-funds"):
                raise InsufficientFunds(
                    f"{what}: {detail}", status=response.status_code, type=type_, detail=detail
                )
        raise_for_status(response, what)
        answer = json_or_none(response)
        if not isinstance(answer, dict):
            raise RetryableError(f"{what}: answer is not a JSON object")
        return answer

    async def create_escrow(
        self, key: str, *, campaign_id: str, owner_wallet: str, asset: str
    ) -> Escrow:
        body = {
            "key": key,
            "campaign_id": campaign_id,
            "owner_wallet": owner_wallet,
            "asset": asset,
        }
        return parse_escrow(await self._call("POST", "/escrows", body))

    async def lock(self, key: str, *, escrow_id: str, amount: int) -> Receipt:
        answer = await self._call(
            "POST", f"/escrows/{escrow_id}/lock", {"key": key, "amount": amount}
        )
        return parse_receipt(answer)

    async def transfer_batch(
        self, escrow_id: str, transfers: Sequence[TransferOrder]
    ) -> list[Receipt]:
        if not transfers:
            return []
        if len(transfers) > MAX_TRANSFERS_PER_BATCH:
            raise ValueError(
                f"{len(transfers)} transfers in one batch; the most is {MAX_TRANSFERS_PER_BATCH}"
            )
        body = {"transfers": [{"key": t.key, "to": t.to, "amount": t.amount} for t in transfers]}
        answer = await self._call("POST", f"/escrows/{escrow_id}/transfers", body)
        return [parse_receipt(item) for item in answer["receipts"]]

    async def refund(self, key: str, *, escrow_id: str) -> Receipt:
        return parse_receipt(await self._call("POST", f"/escrows/{escrow_id}/refund", {"key": key}))

    async def close(self, key: str, *, escrow_id: str) -> Escrow:
        return parse_escrow(await self._call("POST", f"/escrows/{escrow_id}/close", {"key": key}))

    async def get_escrow(self, escrow_id: str) -> Escrow:
        return parse_escrow(await self._call("GET", f"/escrows/{escrow_id}"))

    async def lookup(self, key: str) -> Receipt | None:
        what = f"ledger GET /operations/{key}"
        url = f"{self._base_url}/operations/{quote(key, safe=':')}"
        response = await send(lambda: self._http.get(url, headers=self._headers), what)
        if response.status_code == 404:
            return None
        raise_for_status(response, what)
        return parse_receipt(response.json())
