"""The campaign's posts on X: media first, then each post exactly once; deletion to undo.

X takes no idempotency key and refuses duplicate text with a 403 that does not name the post,
so a post whose outcome is unknown (sent, then a timeout, a 5xx, a lost response or that 403)
is looked up among the author's recent posts by its exact text before it is sent again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.effects import DONE, UNKNOWN, EffectRecord, EffectStore
from activities.errors import activity_failure, as_activity_failures, not_found
from activities.payloads import (
    DELETE_POSTS,
    PUBLISH_FIRST_POST,
    PUBLISH_SECOND_POST,
    CampaignRef,
    DeletedPosts,
    PublishedPost,
    PublishRequest,
)
from clients.ports import (
    DuplicateContent,
    ExternalError,
    PermanentError,
    Post,
    RateLimited,
    RetryableError,
    SocialPlatform,
)
from core.campaign_spec import CampaignSpec, Media
from core.db import SessionFactory
from core.models import Campaign, Owner

POST_KINDS = ("first-post", "second-post")
# Clocks differ: a post found by lookup may carry a time slightly before we prepared it.
LOOKUP_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Author:
    campaign_id: str
    x_user_id: str
    token: str | None  # never logged
    spec: CampaignSpec


class PostActivities:
    def __init__(
        self,
        session_factory: SessionFactory,
        social: SocialPlatform,
        http: httpx.AsyncClient,
        default_token: str | None = None,
    ) -> None:
        self._sessions = session_factory
        self._effects = EffectStore(session_factory)
        self._social = social
        self._http = http
        self._default_token = default_token

    def _author(self, campaign_id: str) -> Author:
        with self._sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise not_found(f"campaign {campaign_id}")
            owner = session.get(Owner, campaign.owner_id)
            if owner is None:
                raise not_found(f"owner {campaign.owner_id}")
            return Author(
                campaign_id=campaign.id,
                x_user_id=owner.x_user_id,
                token=owner.x_access_token or self._default_token,
                spec=CampaignSpec.model_validate(campaign.spec),
            )

    @activity.defn(name=PUBLISH_FIRST_POST)
    async def publish_first_post(self, request: PublishRequest) -> PublishedPost:
        author = await asyncio.to_thread(self._author, request.campaign_id)
        media_ids = [
            await self._upload(author, index, media)
            for index, media in enumerate(author.spec.first_post.media)
        ]
        return await self._publish(
            author, "first-post", author.spec.first_post.text, media_ids=media_ids
        )

    @activity.defn(name=PUBLISH_SECOND_POST)
    async def publish_second_post(self, request: PublishRequest) -> PublishedPost:
        author = await asyncio.to_thread(self._author, request.campaign_id)
        return await self._publish(
            author, "second-post", author.spec.second_post.text, reply_to=request.reply_to
        )

    async def _upload(self, author: Author, index: int, media: Media) -> str:
        """Upload one media file and wait until X has processed it (heartbeating)."""
        key = f"{author.campaign_id}:first-post:media:{index}"
        record = await asyncio.to_thread(
            self._effects.prepare,
            key,
            campaign_id=author.campaign_id,
            kind="media",
            request={"url": str(media.url), "media_type": media.media_type},
        )
        if record.state == DONE and record.result:
            return str(record.result["media_id"])
        activity.heartbeat(f"downloading media {index}")
        data = await self._download(str(media.url))

        def progress(state: str) -> None:
            activity.heartbeat(f"media {index}: {state}")

        with as_activity_failures():
            media_id = await self._social.upload_media(
                data, media.media_type, token=author.token, on_progress=progress
            )
        await asyncio.to_thread(self._effects.complete, key, {"media_id": media_id})
        return media_id

    async def _download(self, url: str) -> bytes:
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as error:
            raise ApplicationError(f"media {url}: {error}", type="RetryableError") from error
        if response.status_code >= 500:
            raise ApplicationError(f"media {url}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ApplicationError(
                f"media {url}: HTTP {response.status_code}",
                type="PermanentError",
                non_retryable=True,
            )
        return response.content

    async def _publish(
        self,
        author: Author,
        kind: str,
        text: str,
        *,
        reply_to: str | None = None,
        media_ids: list[str] | None = None,
    ) -> PublishedPost:
        key = f"{author.campaign_id}:{kind}"
        record = await asyncio.to_thread(
            self._effects.prepare,
            key,
            campaign_id=author.campaign_id,
            kind=kind,
            request={"text": text, "reply_to": reply_to, "media_ids": media_ids or []},
        )
        if record.state == DONE and record.result:
            return PublishedPost(str(record.result["post_id"]))
        if record.state == UNKNOWN and (found := await self._look_up(author, record, text)):
            return await self._done(key, found)
        await asyncio.to_thread(self._effects.mark_sending, key, record.attempts)
        try:
            post = await self._social.create_post(
                text, reply_to=reply_to, media_ids=media_ids or (), token=author.token
            )
        except DuplicateContent as error:
            # X has this text already: ours from an attempt whose answer was lost.
            if found := await self._look_up(author, record, text):
                return await self._done(key, found)
            raise ApplicationError(
                f"{error}; the post is not among the author's recent posts yet",
                type="RetryableError",
            ) from error
        except RateLimited as error:
            await asyncio.to_thread(self._effects.mark_not_sent, key, str(error))
            raise activity_failure(error) from error
        except PermanentError as error:
            await asyncio.to_thread(self._effects.fail, key, str(error))
            raise activity_failure(error) from error
        except RetryableError as error:
            raise activity_failure(error) from error  # stays unknown: looked up next time
        return await self._done(key, post)

    async def _done(self, key: str, post: Post) -> PublishedPost:
        await asyncio.to_thread(self._effects.complete, key, {"post_id": post.id})
        return PublishedPost(post.id)

    async def _look_up(self, author: Author, record: EffectRecord, text: str) -> Post | None:
        reply_to = record.request.get("reply_to")
        with as_activity_failures():
            recent = await self._social.recent_posts(author.x_user_id, token=author.token)
        not_before = record.created_at - LOOKUP_CLOCK_SKEW
        for post in recent:
            if post.text != text:
                continue
            if reply_to and post.in_reply_to_post_id not in (None, reply_to):
                continue
            if post.created_at is not None and post.created_at < not_before:
                continue
            activity.logger.info("found the post sent before: %s", post.id)
            return post
        return None

    @activity.defn(name=DELETE_POSTS)
    async def delete_posts(self, ref: CampaignRef) -> DeletedPosts:
        """Undo: delete the campaign's published posts where the platform allows."""
        author = await asyncio.to_thread(self._author, ref.campaign_id)
        posts = await asyncio.to_thread(self._effects.done, ref.campaign_id, POST_KINDS)
        result = DeletedPosts()
        for record in posts:
            post_id = str((record.result or {})["post_id"])
            try:
                await self._social.delete_post(post_id, token=author.token)
                result.deleted.append(post_id)
            except PermanentError as error:
                if error.status == 404:
                    result.deleted.append(post_id)
                else:
                    result.kept.append(post_id)
            except ExternalError as error:
                raise activity_failure(error) from error
        return result
