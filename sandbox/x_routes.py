"""X API v2 subset: create, read and delete posts, engagement lists, search, user timelines."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from sandbox.paging import check_max_results, page
from sandbox.problems import unauthorized, x_invalid_request
from sandbox.state import SandboxState
from sandbox.x_world import XPost, XUser, now_utc

# How far back X's recent search reaches.
SEARCH_REACH = timedelta(days=7)

router = APIRouter(prefix="/2")


def state_of(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def bearer_of(request: Request) -> str:
    """Reads accept any non-empty bearer token, as an app-only token would be, unless it was
    revoked."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized()
    if token.strip() in state_of(request).x.revoked_tokens:
        raise unauthorized()
    return token.strip()


def author_of(request: Request) -> XUser:
    """Writes act as the user whose token is presented; an unknown token is a 401."""
    user = state_of(request).x.users_by_token.get(bearer_of(request))
    if user is None:
        raise unauthorized()
    return user


def post_document(post: XPost, metrics: dict[str, int]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": post.id,
        "text": post.text,
        "author_id": post.author_id,
        "conversation_id": post.conversation_id,
        "created_at": post.created_at.isoformat().replace("+00:00", "Z"),
        "edit_history_post_ids": [post.id],
        "public_metrics": metrics,
    }
    references = []
    if post.in_reply_to_post_id:
        document["in_reply_to_user_id"] = post.in_reply_to_user_id
        references.append({"type": "replied_to", "id": post.in_reply_to_post_id})
    if post.quoted_post_id:
        references.append({"type": "quoted", "id": post.quoted_post_id})
    if references:
        document["referenced_posts"] = references
    if post.media_ids:
        document["attachments"] = {"media_keys": [f"3_{media_id}" for media_id in post.media_ids]}
    return document


def _posts_page(
    state: SandboxState, posts: list[XPost], max_results: int, token: str | None, parameter: str
) -> dict[str, Any]:
    chunk, next_token = page(posts, max_results, token, parameter)
    meta: dict[str, Any] = {"result_count": len(chunk)}
    if chunk:
        meta["newest_id"], meta["oldest_id"] = chunk[0].id, chunk[-1].id
    if next_token:
        meta["next_token"] = next_token
    body: dict[str, Any] = {"meta": meta}
    if chunk:
        body["data"] = [post_document(post, state.x.metrics(post)) for post in chunk]
    return body


def _users_page(users: list[XUser], max_results: int, token: str | None) -> dict[str, Any]:
    chunk, next_token = page(users, max_results, token)
    meta: dict[str, Any] = {"result_count": len(chunk)}
    if next_token:
        meta["next_token"] = next_token
    body: dict[str, Any] = {"meta": meta}
    if chunk:
        body["data"] = [{"id": u.id, "name": u.username, "username": u.username} for u in chunk]
    return body


class ReplyBody(BaseModel):
    in_reply_to_tweet_id: str


class MediaBody(BaseModel):
    media_ids: list[str]


class CreatePostBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str | None = None
    reply: ReplyBody | None = None
    media: MediaBody | None = None
    quote_tweet_id: str | None = None


@router.post("/tweets", status_code=201)
async def create_post(body: CreatePostBody, request: Request) -> JSONResponse:
    author = author_of(request)
    media_ids = body.media.media_ids if body.media else []
    if not (body.text or "").strip() and not media_ids:
        raise x_invalid_request("Post text is required unless media is attached.", parameter="text")
    if not 1 <= len(media_ids or [""]) <= 4:
        raise x_invalid_request("Between 1 and 4 media IDs may be attached.", parameter="media")
    state = state_of(request)
    async with state.changes():
        post = state.x.create_post(
            author,
            body.text or "",
            reply_to=body.reply.in_reply_to_tweet_id if body.reply else None,
            quote_of=body.quote_tweet_id,
            media_ids=media_ids,
        )
    data = {"id": post.id, "text": post.text, "edit_history_post_ids": [post.id]}
    return JSONResponse({"data": data}, status_code=201)


@router.get("/tweets/search/recent")
async def search_recent(
    request: Request,
    query: Annotated[str, Query(min_length=1, max_length=4096)],
    max_results: int | None = None,
    next_token: str | None = None,
    pagination_token: str | None = None,
    start_time: str | None = None,
) -> dict[str, Any]:
    bearer_of(request)
    conversation_id, author_id = _parse_query(query)
    size = check_max_results(max_results, 10, 100, 10)
    since = _start_time(start_time) if start_time is not None else None
    state = state_of(request)
    posts = state.x.search(conversation_id, author_id)
    if since is not None:  # newest first: the posts from ``since`` on are a prefix
        posts = list(itertools.takewhile(lambda post: post.created_at >= since, posts))
    return _posts_page(state, posts, size, next_token or pagination_token, "next_token")


def _start_time(value: str) -> datetime:
    """X's ``start_time``: an ISO 8601 instant within the last seven days."""
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        raise x_invalid_request(
            f"Invalid 'start_time':'{value}'. 'start_time' must be an ISO 8601 date-time.",
            parameter="start_time",
        ) from None
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    earliest = now_utc() - SEARCH_REACH
    if since < earliest:
        raise x_invalid_request(
            f"Invalid 'start_time':'{value}'. 'start_time' must be on or after "
            f"{earliest.strftime('%Y-%m-%dT%H:%M:%SZ')}",
            parameter="start_time",
        )
    return since


def _parse_query(query: str) -> tuple[str | None, str | None]:
    conversation_id = author_id = None
    for term in query.split():
        match = re.fullmatch(r"(conversation_id|from):(\S+)", term)
        if match is None:
            raise x_invalid_request(
                f"The sandbox supports only conversation_id: and from: terms, not {term!r}.",
                parameter="query",
            )
        if match.group(1) == "conversation_id":
            conversation_id = match.group(2)
        else:
            author_id = match.group(2)
    return conversation_id, author_id


@router.get("/tweets/{post_id}")
async def get_post(post_id: str, request: Request) -> dict[str, Any]:
    bearer_of(request)
    state = state_of(request)
    post = state.x.visible_post(post_id)
    return {"data": post_document(post, state.x.metrics(post))}


@router.delete("/tweets/{post_id}")
async def delete_post(post_id: str, request: Request) -> dict[str, Any]:
    author = author_of(request)
    state = state_of(request)
    async with state.changes():
        deleted = state.x.delete_post(author, post_id)
    return {"data": {"deleted": deleted}}


@router.get("/tweets/{post_id}/liking_users")
async def liking_users(
    post_id: str,
    request: Request,
    max_results: int | None = None,
    pagination_token: str | None = None,
) -> dict[str, Any]:
    bearer_of(request)
    x = state_of(request).x
    async with state_of(request).changes():  # viewing may create placeholder users
        users = x.latest_users(x.visible_post(post_id).likers)
    return _users_page(users, check_max_results(max_results, 1, 100, 100), pagination_token)


@router.get("/tweets/{post_id}/retweeted_by")
async def reposted_by(
    post_id: str,
    request: Request,
    max_results: int | None = None,
    pagination_token: str | None = None,
) -> dict[str, Any]:
    bearer_of(request)
    x = state_of(request).x
    async with state_of(request).changes():
        users = x.latest_users(x.visible_post(post_id).reposters)
    return _users_page(users, check_max_results(max_results, 1, 100, 100), pagination_token)


@router.get("/tweets/{post_id}/quote_tweets")
async def quote_posts(
    post_id: str,
    request: Request,
    max_results: int | None = None,
    pagination_token: str | None = None,
) -> dict[str, Any]:
    bearer_of(request)
    state = state_of(request)
    size = check_max_results(max_results, 10, 100, 10)
    return _posts_page(
        state, state.x.quotes_of(post_id), size, pagination_token, "pagination_token"
    )


@router.get("/users/{user_id}/tweets")
async def user_posts(
    user_id: str,
    request: Request,
    max_results: int | None = None,
    pagination_token: str | None = None,
) -> dict[str, Any]:
    bearer_of(request)
    state = state_of(request)
    size = check_max_results(max_results, 5, 100, 10)
    return _posts_page(
        state, state.x.by_author(user_id), size, pagination_token, "pagination_token"
    )
