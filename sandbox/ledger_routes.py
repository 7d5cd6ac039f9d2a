"""The ledger API: escrows, locks, transfer batches, refunds, closes, lookups by key.

Every write takes a ``key``; a repeated key answers with the first receipt, forever.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.problems import ledger_problem
from sandbox.state import SandboxState

router = APIRouter(prefix="/ledger")

MAX_TRANSFERS_PER_BATCH = 500


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


class CreateEscrowBody(BaseModel):
    key: str = Field(min_length=1)
    campaign_id: str = Field(min_length=1)
    owner_wallet: str = Field(min_length=1)
    asset: str = Field(min_length=1)


class LockBody(BaseModel):
    key: str = Field(min_length=1)
    amount: int = Field(gt=0)


class TransferBody(BaseModel):
    key: str = Field(min_length=1)
    to: str = Field(min_length=1)
    amount: int = Field(gt=0)


class TransferBatchBody(BaseModel):
    transfers: list[TransferBody] = Field(min_length=1, max_length=MAX_TRANSFERS_PER_BATCH)


class KeyBody(BaseModel):
    key: str = Field(min_length=1)


@router.post("/escrows", status_code=201)
async def create_escrow(body: CreateEscrowBody, request: Request) -> dict[str, Any]:
    state = _state(request)
    async with state.changes():
        escrow = state.ledger.create_escrow(
            body.key, body.campaign_id, body.owner_wallet, body.asset
        )
    return escrow.document()


@router.get("/escrows/{escrow_id}")
async def get_escrow(escrow_id: str, request: Request) -> dict[str, Any]:
    return _state(request).ledger.escrow(escrow_id).document()


@router.post("/escrows/{escrow_id}/lock")
async def lock(escrow_id: str, body: LockBody, request: Request) -> dict[str, Any]:
    state = _state(request)
    async with state.changes():
        return state.ledger.lock(body.key, escrow_id, body.amount).document()


@router.post("/escrows/{escrow_id}/transfers")
async def transfers(escrow_id: str, body: TransferBatchBody, request: Request) -> dict[str, Any]:
    state = _state(request)
    orders = [(t.key, t.to, t.amount) for t in body.transfers]
    async with state.changes():
        receipts = state.ledger.transfer_batch(escrow_id, orders)
    return {"receipts": [receipt.document() for receipt in receipts]}


@router.post("/escrows/{escrow_id}/refund")
async def refund(escrow_id: str, body: KeyBody, request: Request) -> dict[str, Any]:
    state = _state(request)
    async with state.changes():
        return state.ledger.refund(body.key, escrow_id).document()


@router.post("/escrows/{escrow_id}/close")
async def close(escrow_id: str, body: KeyBody, request: Request) -> dict[str, Any]:
    state = _state(request)
    async with state.changes():
        return state.ledger.close(body.key, escrow_id).document()


@router.get("/operations/{key:path}")
async def operation(key: str, request: Request) -> JSONResponse:
    found = _state(request).ledger.operations.get(key)
    if found is None:
        raise ledger_problem(404, "operation-not-found", f"No operation with key {key!r}.")
    return JSONResponse(found.document())
