"""The campaign's posts on X: media first, then each post exactly once; deletion to undo.

X takes no idempotency key and refuses duplicate text with a 403 that does not name the post,
so a post whose outcome is unknown (sent, then a timeout, a 5xx, a lost response or that 403)
is looked up among the author's recent posts by its exact text before it is sent again. Only
a post this campaign made is adopted (``could_be_ours``, and no other campaign recorded it):
the same owner may run another campaign with the same text, or post it by hand.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.effects import (
    DONE,
    FAILED,
    PREPARED,
    UNKNOWN,
    EffectRecord,
    EffectStore,
    Sending,
    failed_for_good,
)
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
from core.logging import register_secret
from core.metrics import LOOKED_UP, RECORDED, activity_meter, count_effect_found_done
from core.models import Campaign, Owner

POST_KINDS = ("first-post", "second-post")
# Clocks differ: a post found by lookup may carry a time slightly before we prepared it. Kept
# small: an older post with the same text is the owner's or another campaign's, never ours.
LOOKUP_CLOCK_SKEW = timedelta(seconds=30)


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
            register_secret(owner.x_access_token)
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
        # The first upload recorded wins if two attempts raced.
        recorded = await asyncio.to_thread(self._effects.complete, key, {"media_id": media_id})
        return str(recorded["media_id"])

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
            count_effect_found_done(activity_meter(), kind, RECORDED)
            return PublishedPost(str(record.result["post_id"]))
        if record.state == FAILED:
            raise failed_for_good(record)
        if record.state == UNKNOWN and (found := await self._look_up(author, record)):
            count_effect_found_done(activity_meter(), kind, LOOKED_UP)
            return await self._done(key, found)
        sending = await asyncio.to_thread(self._effects.mark_sending, key)
        if sending.previous in (DONE, FAILED):  # another attempt finished in between
            return await self._recorded(key)
        try:
            post = await self._social.create_post(
                text, reply_to=reply_to, media_ids=media_ids or (), token=author.token
            )
        except DuplicateContent as error:
            return await self._refused_as_duplicate(author, record, sending, error)
        except RateLimited as error:
            # Not sent this time, but an earlier attempt may have sent it: an ``unknown`` post
            # stays unknown and is looked up first next time.
            await asyncio.to_thread(self._effects.refused_unsent, key, sending, str(error))
            raise activity_failure(error) from error
        except PermanentError as error:
            after = await asyncio.to_thread(self._effects.fail, key, str(error))
            if after.state == DONE:
                return await self._recorded(key)
            raise activity_failure(error) from error
        except RetryableError as error:
            raise activity_failure(error) from error  # stays unknown: looked up next time
        return await self._done(key, post)

    async def _refused_as_duplicate(
        self, author: Author, record: EffectRecord, sending: Sending, error: DuplicateContent
    ) -> PublishedPost:
        """X has this text already. If no attempt but this one ever sent the post, the live
        post is not ours (another campaign's, or the owner's own): fail fast with the reason.
        Otherwise it is most likely ours from an attempt whose answer was lost."""
        current = await asyncio.to_thread(self._effects.get, record.key)
        assert current is not None
        if current.state == DONE:
            return await self._recorded(record.key)
        # Ours was the first send ever (attempt 1) and no attempt has started sending since.
        alone = sending.previous == PREPARED and current.attempts == sending.attempt == 1
        if not alone:
            if found := await self._look_up(author, record):
                return await self._done(record.key, found)
            raise ApplicationError(
                f"{error}; the post is not among the author's recent posts yet",
                type="RetryableError",
            ) from error
        reason = await self._duplicate_reason(author, str(record.request["text"]))
        after = await asyncio.to_thread(self._effects.fail, record.key, reason)
        if after.state == DONE:
            return await self._recorded(record.key)
        raise ApplicationError(reason, type="DuplicateContent", non_retryable=True) from error

    async def _duplicate_reason(self, author: Author, text: str) -> str:
        try:
            recent = await self._social.recent_posts(author.x_user_id, token=author.token)
        except ExternalError:
            recent = []  # the reason stands without naming the post
        existing = next((post for post in recent if post.text == text), None)
        what = "a live post with this exact text"
        if existing is not None:
            campaign = await self._claimed_by_another(author, existing)
            details = [f"post {existing.id}"]
            if existing.created_at is not None:
                details[0] += f" from {existing.created_at:%Y-%m-%d %H:%M:%S} UTC"
            if campaign:
                details.append(f"campaign {campaign}")
            what += f" ({', '.join(details)})"
        return (
            f"X refused the post: the author already has {what}; X does not allow duplicate "
            "text, so change the campaign's text"
        )

    async def _done(self, key: str, post: Post) -> PublishedPost:
        # The first result recorded wins: a concurrent attempt may have recorded it already.
        result = await asyncio.to_thread(self._effects.complete, key, {"post_id": post.id})
        return PublishedPost(str(result["post_id"]))

    async def _recorded(self, key: str) -> PublishedPost:
        record = await asyncio.to_thread(self._effects.get, key)
        assert record is not None
        if record.state == DONE and record.result:
            return PublishedPost(str(record.result["post_id"]))
        raise failed_for_good(record)

    async def _look_up(self, author: Author, record: EffectRecord) -> Post | None:
        """The post this effect made, if the author's recent posts show it; a post another
        campaign recorded as its own, or one made before this effect, is never adopted."""
        with as_activity_failures():
            recent = await self._social.recent_posts(author.x_user_id, token=author.token)
        for post in recent:
            if not could_be_ours(post, author.x_user_id, record):
                continue
            if claimed := await self._claimed_by_another(author, post):
                activity.logger.info("post %s is campaign %s's, not adopted", post.id, claimed)
                continue
            activity.logger.info("found the post sent before: %s", post.id)
            return post
        return None

    async def _claimed_by_another(self, author: Author, post: Post) -> str | None:
        """The other campaign whose done effect recorded this post as its own, if any."""
        return await asyncio.to_thread(
            self._effects.campaign_with_result,
            POST_KINDS,
            "post_id",
            post.id,
            other_than=author.campaign_id,
        )

    @activity.defn(name=DELETE_POSTS)
    async def delete_posts(self, ref: CampaignRef) -> DeletedPosts:
        """Undo: delete the campaign's posts where the platform allows. A post whose outcome is
        unknown is looked up first, by the same rules as publishing; one found is recorded
        done, so the row says what was made. Another campaign's post is never touched."""
        author = await asyncio.to_thread(self._author, ref.campaign_id)
        records = await asyncio.to_thread(
            self._effects.of_campaign, ref.campaign_id, POST_KINDS, (DONE, UNKNOWN)
        )
        made = [post_id for record in records if (post_id := await self._made(author, record))]
        result = DeletedPosts()
        for post_id in made:
            try:
                await self._social.delete_post(post_id, token=author.token)
                result.deleted.append(post_id)
            except PermanentError as error:  # already gone counts as deleted
                (result.deleted if error.status == 404 else result.kept).append(post_id)
            except ExternalError as error:
                raise activity_failure(error) from error
        return result

    async def _made(self, author: Author, record: EffectRecord) -> str | None:
        if record.state == UNKNOWN:
            found = await self._look_up(author, record)
            if found is None:
                return None  # never made, or not visible yet
            return (await self._done(record.key, found)).post_id
        return str((record.result or {})["post_id"])


def could_be_ours(post: Post, author_id: str, record: EffectRecord) -> bool:
    """Exact text, the campaign's author, made after the effect was prepared (within the clock
    skew) and in the right place: the first post replies to nothing, the second to the first."""
    if post.text != record.request.get("text"):
        return False
    # The author's own timeline: a post without an author ID is the author's.
    if post.author_id not in (None, author_id):
        return False
    if post.created_at is None or post.created_at < record.created_at - LOOKUP_CLOCK_SKEW:
        return False
    reply_to = record.request.get("reply_to")
    if post.in_reply_to_post_id is not None:
        return post.in_reply_to_post_id == reply_to
    # Without reference fields, a reply is known by its conversation (the first post's).
    return post.conversation_id in ((reply_to,) if reply_to else (None, post.id))
