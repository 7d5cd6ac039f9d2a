"""X API v2 adapter of ``SocialPlatform``, on the process's shared ``httpx.AsyncClient``.

Reads ``x-rate-limit-*`` on every response and refuses to call an endpoint whose window is
spent until its reset (raising ``RateLimited`` without touching the network), pages until the
last page, and reads both error shapes X uses (RFC 7807 problems and legacy ``errors[]``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from clients.http import json_or_none, problem_fields, raise_for_status, reset_time, send
from clients.ports import (
    DuplicateContent,
    MediaProcessingFailed,
    PermanentError,
    Post,
    PostMetrics,
    ProgressCallback,
    RateLimited,
    RetryableError,
    SocialUser,
)

# Field names as X's OpenAPI description (v2.167) spells them; older deployments call the
# fields parameter ``tweet.fields`` (see ``fields_param``).
POST_FIELDS = "conversation_id,created_at,public_metrics"
POST_EXPANSIONS = "author_id,referenced_posts,in_reply_to_user_id"
DEFAULT_CHUNK_SIZE = 1024 * 1024
MAX_PAGES = 1000
DUPLICATE_CODE = 187


@dataclass(frozen=True)
class RateLimitStatus:
    limit: int
    remaining: int
    reset_at: datetime


def _media_category(media_type: str) -> str:
    if media_type == "image/gif":
        return "tweet_gif"
    return "tweet_video" if media_type.startswith("video/") else "tweet_image"


def _parse_time(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_post(data: dict[str, Any]) -> Post:
    references = data.get("referenced_posts") or data.get("referenced_tweets") or []
    replied_to = next((r.get("id") for r in references if r.get("type") == "replied_to"), None)
    return Post(
        id=str(data["id"]),
        text=str(data.get("text", "")),
        author_id=data.get("author_id"),
        conversation_id=data.get("conversation_id"),
        in_reply_to_post_id=replied_to,
        created_at=_parse_time(data.get("created_at")),
    )


class XApiClient:
    """``SocialPlatform`` over X API v2. ``token`` on a call overrides the default bearer."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        bearer_token: str | None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        media_timeout: float = 600.0,
        fields_param: str = "post.fields",
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._bearer_token = bearer_token
        self._chunk_size = chunk_size
        self._media_timeout = media_timeout
        self._post_fields = {fields_param: POST_FIELDS, "expansions": POST_EXPANSIONS}
        self.rate_limits: dict[str, RateLimitStatus] = {}

    # --- plumbing ----------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        token: str | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
    ) -> Any:
        what = f"X {endpoint}"  # the endpoint names its method
        known = self.rate_limits.get(endpoint)
        if known and known.remaining <= 0 and known.reset_at > datetime.now(UTC):
            raise RateLimited(
                f"{what}: window spent until {known.reset_at.isoformat()}", reset_at=known.reset_at
            )
        bearer = token or self._bearer_token
        headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
        response = await send(
            lambda: self._http.request(
                method,
                self._base_url + path,
                params=params,
                json=json,
                data=data,
                files=files,
                headers=headers,
            ),
            what,
        )
        self._note_rate_limit(endpoint, response)
        if response.status_code == 403:
            self._raise_if_duplicate(response, what)
        raise_for_status(response, what)
        body = json_or_none(response)
        if not isinstance(body, dict):
            raise RetryableError(f"{what}: answer is not a JSON object")
        if "data" not in body and body.get("errors") and "meta" not in body:
            # X answers some lookups with 200 and only ``errors`` (e.g. a deleted post).
            type_, detail, _ = problem_fields(body)
            status = 404 if type_ and type_.endswith("resource-not-found") else 400
            raise PermanentError(f"{what}: {detail}", status=status, type=type_, detail=detail)
        return body

    def _note_rate_limit(self, endpoint: str, response: httpx.Response) -> None:
        headers = response.headers
        try:
            limit = int(headers["x-rate-limit-limit"])
            remaining = int(headers["x-rate-limit-remaining"])
        except (KeyError, ValueError):
            return
        self.rate_limits[endpoint] = RateLimitStatus(limit, remaining, reset_time(response))

    @staticmethod
    def _raise_if_duplicate(response: httpx.Response, what: str) -> None:
        type_, detail, code = problem_fields(json_or_none(response))
        if code == DUPLICATE_CODE or "duplicate" in (detail or "").lower():
            raise DuplicateContent(
                f"{what}: duplicate content", status=403, type=type_, detail=detail
            )

    async def _pages(
        self,
        path: str,
        *,
        endpoint: str,
        params: dict[str, Any],
        page_param: str = "pagination_token",
    ) -> AsyncIterator[list[dict[str, Any]]]:
        next_token: str | None = None
        for _ in range(MAX_PAGES):
            query = dict(params)
            if next_token:
                query[page_param] = next_token
            body = await self._request("GET", path, endpoint=endpoint, params=query)
            yield list(body.get("data") or [])
            next_token = (body.get("meta") or {}).get("next_token")
            if not next_token:
                return

    async def _users(self, path: str, endpoint: str) -> list[SocialUser]:
        seen: dict[str, SocialUser] = {}
        async for page in self._pages(path, endpoint=endpoint, params={"max_results": 100}):
            for item in page:
                seen.setdefault(
                    str(item["id"]), SocialUser(id=str(item["id"]), username=item.get("username"))
                )
        return list(seen.values())

    async def _posts(
        self,
        path: str,
        endpoint: str,
        params: dict[str, Any],
        page_param: str = "pagination_token",
    ) -> list[Post]:
        seen: dict[str, Post] = {}
        query = {**self._post_fields, **params}
        async for page in self._pages(path, endpoint=endpoint, params=query, page_param=page_param):
            for item in page:
                seen.setdefault(str(item["id"]), parse_post(item))
        return list(seen.values())

    # --- posts -------------------------------------------------------------------------

    async def create_post(
        self,
        text: str,
        *,
        reply_to: str | None = None,
        media_ids: Sequence[str] = (),
        token: str | None = None,
    ) -> Post:
        body: dict[str, Any] = {"text": text}
        if reply_to:
            body["reply"] = {"in_reply_to_tweet_id": reply_to}
        if media_ids:
            body["media"] = {"media_ids": list(media_ids)}
        answer = await self._request(
            "POST", "/2/tweets", endpoint="POST /2/tweets", token=token, json=body
        )
        data = answer.get("data") or {}
        return Post(
            id=str(data["id"]), text=str(data.get("text", text)), in_reply_to_post_id=reply_to
        )

    async def delete_post(self, post_id: str, *, token: str | None = None) -> bool:
        answer = await self._request(
            "DELETE", f"/2/tweets/{post_id}", endpoint="DELETE /2/tweets/:id", token=token
        )
        return bool((answer.get("data") or {}).get("deleted"))

    async def get_post(self, post_id: str) -> Post:
        answer = await self._request(
            "GET",
            f"/2/tweets/{post_id}",
            endpoint="GET /2/tweets/:id",
            params=self._post_fields,
        )
        return parse_post(answer["data"])

    async def post_metrics(self, post_id: str) -> PostMetrics:
        answer = await self._request(
            "GET",
            f"/2/tweets/{post_id}",
            endpoint="GET /2/tweets/:id",
            params=self._post_fields,
        )
        metrics = answer["data"].get("public_metrics") or {}
        return PostMetrics(
            post_id=post_id,
            like_count=int(metrics.get("like_count", 0)),
            repost_count=int(metrics.get("repost_count", metrics.get("retweet_count", 0))),
            reply_count=int(metrics.get("reply_count", 0)),
            quote_count=int(metrics.get("quote_count", 0)),
            impression_count=int(metrics.get("impression_count", 0)),
        )

    async def liking_users(self, post_id: str) -> list[SocialUser]:
        return await self._users(
            f"/2/tweets/{post_id}/liking_users", "GET /2/tweets/:id/liking_users"
        )

    async def reposted_by(self, post_id: str) -> list[SocialUser]:
        return await self._users(
            f"/2/tweets/{post_id}/retweeted_by", "GET /2/tweets/:id/retweeted_by"
        )

    async def quote_posts(self, post_id: str) -> list[Post]:
        return await self._posts(
            f"/2/tweets/{post_id}/quote_tweets",
            "GET /2/tweets/:id/quote_tweets",
            {"max_results": 100},
        )

    async def replies(self, conversation_id: str, *, since: datetime | None = None) -> list[Post]:
        params: dict[str, Any] = {"query": f"conversation_id:{conversation_id}", "max_results": 100}
        if since is not None:
            # X takes whole seconds: cut down, so the second ``since`` falls in is read whole.
            params["start_time"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        posts = await self._posts(
            "/2/tweets/search/recent",
            "GET /2/tweets/search/recent",
            params,
            page_param="next_token",
        )
        return [post for post in posts if post.id != conversation_id]

    async def recent_posts(
        self, user_id: str, *, token: str | None = None, max_results: int = 100
    ) -> list[Post]:
        found: dict[str, Post] = {}
        next_token: str | None = None
        while len(found) < max_results:
            params: dict[str, Any] = {
                **self._post_fields,
                "max_results": min(100, max(5, max_results - len(found))),
            }
            if next_token:
                params["pagination_token"] = next_token
            body = await self._request(
                "GET",
                f"/2/users/{user_id}/tweets",
                endpoint="GET /2/users/:id/tweets",
                token=token,
                params=params,
            )
            for item in body.get("data") or []:
                found.setdefault(str(item["id"]), parse_post(item))
            next_token = (body.get("meta") or {}).get("next_token")
            if not next_token:
                break
        return list(found.values())[:max_results]

    # --- media -------------------------------------------------------------------------

    async def upload_media(
        self,
        data: bytes,
        media_type: str,
        *,
        token: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> str:
        init = await self._request(
            "POST",
            "/2/media/upload/initialize",
            endpoint="POST /2/media/upload/initialize",
            token=token,
            json={
                "media_type": media_type,
                "total_bytes": len(data),
                "media_category": _media_category(media_type),
            },
        )
        media_id = str(init["data"]["id"])
        for index, start in enumerate(range(0, len(data), self._chunk_size)):
            chunk = data[start : start + self._chunk_size]
            await self._request(
                "POST",
                f"/2/media/upload/{media_id}/append",
                endpoint="POST /2/media/upload/:id/append",
                token=token,
                data={"segment_index": str(index)},
                files={"media": ("chunk", chunk, "application/octet-stream")},
            )
        answer = await self._request(
            "POST",
            f"/2/media/upload/{media_id}/finalize",
            endpoint="POST /2/media/upload/:id/finalize",
            token=token,
        )
        await self._wait_for_processing(media_id, answer, token, on_progress)
        return media_id

    async def _wait_for_processing(
        self,
        media_id: str,
        answer: dict[str, Any],
        token: str | None,
        on_progress: ProgressCallback | None,
    ) -> None:
        deadline = time.monotonic() + self._media_timeout
        info = (answer.get("data") or {}).get("processing_info")
        while info is not None and info.get("state") in ("pending", "in_progress"):
            if time.monotonic() >= deadline:
                raise RetryableError(
                    f"X media {media_id}: still processing after {self._media_timeout}s"
                )
            await asyncio.sleep(max(0.0, float(info.get("check_after_secs") or 1)))
            answer = await self._request(
                "GET",
                "/2/media/upload",
                endpoint="GET /2/media/upload",
                token=token,
                params={"media_id": media_id, "command": "STATUS"},
            )
            info = (answer.get("data") or {}).get("processing_info")
            if on_progress is not None:
                outcome = on_progress(str((info or {}).get("state", "succeeded")))
                if inspect.isawaitable(outcome):
                    await outcome
        if info is not None and info.get("state") == "failed":
            error = info.get("error") or {}
            detail = str(error.get("message") or f"media {media_id} failed processing")
            # 422: the upload itself was accepted; its content cannot be used.
            raise MediaProcessingFailed(
                f"X media {media_id}: processing failed: {detail}",
                status=422,
                type="media-processing-failed",
                detail=detail,
            )
