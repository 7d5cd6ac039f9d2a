"""``/sandbox``: what tests and demos need: wallets, users, engagements, faults, ground truth."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from sandbox.state import FaultSettings, SandboxState
from sandbox.x_world import XWorld

router = APIRouter(prefix="/sandbox")


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


class AccountBody(BaseModel):
    account: str = Field(min_length=1)
    balance: int = Field(ge=0)


class UserBody(BaseModel):
    id: str = Field(min_length=1)
    username: str | None = None


class TokenBody(BaseModel):
    token: str = Field(min_length=1)


class EngagementItem(BaseModel):
    user_id: str = Field(min_length=1)
    kind: Literal["like", "repost", "quote", "reply"]
    text: str | None = None


class EngagementsBody(BaseModel):
    tweet_id: str
    engagements: list[EngagementItem] = Field(max_length=10_000)


class SimulateBody(BaseModel):
    tweet_id: str
    users: int = Field(gt=0, le=100_000)
    per_minute: float = Field(gt=0, le=60_000)
    kinds: list[Literal["like", "repost", "quote", "reply"]] = ["like", "repost", "quote", "reply"]


@router.post("/accounts")
async def fund_account(body: AccountBody, request: Request) -> dict[str, Any]:
    """Create the wallet if new and add ``balance`` to it; answers with the new balance."""
    state = _state(request)
    async with state.changes():
        balance = state.ledger.fund(body.account, body.balance)
    return {"account": body.account, "balance": balance}


@router.get("/accounts/{account}")
async def account(account: str, request: Request) -> dict[str, Any]:
    return {"account": account, "balance": _state(request).ledger.wallets.get(account, 0)}


@router.post("/users", status_code=201)
async def create_user(body: UserBody, request: Request) -> dict[str, Any]:
    state = _state(request)
    async with state.changes():
        user = state.x.add_user(body.id, body.username)
    return {"id": user.id, "username": user.username, "token": user.token}


@router.post("/tokens/revoke", status_code=204)
async def revoke_token(body: TokenBody, request: Request) -> Response:
    """X stops accepting this bearer token: every call with it is a 401 (a wrong or revoked
    read token, as an operator meets it)."""
    state = _state(request)
    async with state.changes():
        state.x.revoke_token(body.token)
    return Response(status_code=204)


@router.post("/tokens/restore", status_code=204)
async def restore_token(body: TokenBody, request: Request) -> Response:
    """X accepts a revoked token again (its owner fixed the app's access)."""
    state = _state(request)
    async with state.changes():
        state.x.restore_token(body.token)
    return Response(status_code=204)


def apply_engagement(x: XWorld, tweet_id: str, item: EngagementItem) -> str | None:
    """Apply one engagement; quotes and replies become real posts (their ID is returned)."""
    user = x.add_user(item.user_id)
    if item.kind == "like":
        x.like(tweet_id, user.id)
        return None
    if item.kind == "repost":
        x.repost(tweet_id, user.id)
        return None
    text = item.text or f"{item.kind} #{len(x.posts) + 1} by {user.username}"
    if item.kind == "quote":
        post = x.create_post(user, text, quote_of=tweet_id, check_duplicate=False)
    else:
        post = x.create_post(user, text, reply_to=tweet_id, check_duplicate=False)
    return post.id


@router.post("/engagements")
async def add_engagements(body: EngagementsBody, request: Request) -> dict[str, Any]:
    state = _state(request)
    async with state.changes():
        state.x.visible_post(body.tweet_id, parameter="tweet_id")
        post_ids = [apply_engagement(state.x, body.tweet_id, e) for e in body.engagements]
    return {"applied": len(post_ids), "post_ids": [pid for pid in post_ids if pid]}


@router.post("/simulate", status_code=202)
async def simulate(body: SimulateBody, request: Request) -> dict[str, Any]:
    """Organic engagers arriving over time, in the background (for demos)."""
    state = _state(request)
    state.x.visible_post(body.tweet_id, parameter="tweet_id")
    task = asyncio.get_running_loop().create_task(_simulate(state, body))
    request.app.state.background.add(task)
    task.add_done_callback(request.app.state.background.discard)
    return {"tweet_id": body.tweet_id, "users": body.users, "per_minute": body.per_minute}


async def _simulate(state: SandboxState, body: SimulateBody) -> None:
    delay = 60.0 / body.per_minute
    for n in range(body.users):
        kind = body.kinds[n % len(body.kinds)]
        item = EngagementItem(user_id=str(7_000_000_000 + n), kind=kind)
        async with state.changes():
            with contextlib.suppress(Exception):  # the post may be deleted meanwhile
                apply_engagement(state.x, body.tweet_id, item)
        await asyncio.sleep(delay)


@router.put("/faults")
async def put_faults(body: FaultSettings, request: Request) -> dict[str, Any]:
    state = _state(request)
    async with state.changes():
        state.set_faults(body)
    return body.model_dump()


@router.delete("/faults", status_code=204)
async def delete_faults(request: Request) -> Response:
    state = _state(request)
    async with state.changes():
        state.set_faults(FaultSettings())
    return Response(status_code=204)


@router.get("/faults")
async def get_faults(request: Request) -> dict[str, Any]:
    return _state(request).faults.model_dump()


@router.get("/truth/posts")
async def truth_posts(request: Request) -> dict[str, Any]:
    posts = [
        {
            "id": p.id,
            "author_id": p.author_id,
            "text": p.text,
            "in_reply_to_tweet_id": p.in_reply_to_post_id,
            "quote_tweet_id": p.quoted_post_id,
            "conversation_id": p.conversation_id,
            "media_ids": p.media_ids,
            "created_at": p.created_at.isoformat(),
            "deleted": p.deleted,
        }
        for p in _state(request).x.posts.values()
    ]
    return {"posts": posts}


@router.get("/truth/transfers")
async def truth_transfers(request: Request) -> dict[str, Any]:
    return {"transfers": [t.document() for t in _state(request).ledger.transfers]}
