"""The sandbox's X: users, posts, likes, reposts and media uploads (``x_media``), kept in
memory (and in the state file when it has one: every change marks what it touched in
``dirty``).

Pure state and rules, no HTTP: the routes in ``x_routes`` and ``media_routes`` call these
methods while holding the sandbox lock, so every change is atomic.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sandbox.problems import x_duplicate_content, x_forbidden, x_invalid_request, x_not_found
from sandbox.x_media import MEDIA_ID_BASE, MediaUpload, MediaUploads
from sandbox.x_media import media_bytes as media_bytes  # re-exported for tests

# Only the latest LIST_WINDOW likers and reposters are visible, as on X.
LIST_WINDOW = 100
SEARCHES_KEPT = 64  # distinct searches answered from the cache at once

_POST_ID_BASE = 1_900_000_000_000_000_000


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class XUser:
    id: str
    username: str
    token: str


@dataclass
class XPost:
    id: str
    author_id: str
    text: str
    created_at: datetime
    conversation_id: str
    in_reply_to_post_id: str | None = None
    in_reply_to_user_id: str | None = None
    quoted_post_id: str | None = None
    media_ids: list[str] = field(default_factory=list)
    deleted: bool = False
    # Append-only, in arrival order; the API shows the latest LIST_WINDOW.
    likers: list[str] = field(default_factory=list)
    reposters: list[str] = field(default_factory=list)


class XWorld(MediaUploads):
    def __init__(self) -> None:
        self.users: dict[str, XUser] = {}
        self.users_by_token: dict[str, XUser] = {}
        self.posts: dict[str, XPost] = {}
        self.media: dict[str, MediaUpload] = {}
        self._post_seq = itertools.count(1)
        self._media_seq = itertools.count(1)
        self._replies_to: dict[str, list[str]] = {}
        self._quotes_of: dict[str, list[str]] = {}
        self._by_author: dict[str, list[str]] = {}
        self._by_conversation: dict[str, list[str]] = {}
        # How many live posts each (author, text) has: the duplicate check without a scan.
        self._live_texts: Counter[tuple[str, str]] = Counter()
        # Bearer tokens X no longer accepts (POST /sandbox/tokens/revoke).
        self.revoked_tokens: set[str] = set()
        # (kind, id) of what changed since the state file last saw it (sandbox.persistence).
        self.dirty: set[tuple[str, str]] = set()
        # A search's answer, kept while no post is added or deleted: a reader paging through
        # 20,000 replies would otherwise rebuild the whole list for every page of 100.
        self._posts_changed = 0
        self._searched: dict[tuple[str | None, str | None], tuple[int, list[XPost]]] = {}

    def restore(
        self,
        *,
        users: list[XUser],
        posts: list[XPost],
        media: list[MediaUpload],
        revoked: set[str],
    ) -> None:
        """Rebuild a saved world: the indexes in creation order, and the ID sequences past
        every saved ID, so no new post or upload ever reuses one."""
        for user in users:
            self.users[user.id] = user
            self.users_by_token[user.token] = user
        for post in sorted(posts, key=lambda p: int(p.id)):
            self._index(post)
        self.media = {upload.id: upload for upload in media}
        self.revoked_tokens = set(revoked)
        last_post = max((int(p.id) - _POST_ID_BASE for p in posts), default=0)
        last_media = max((int(m.id) - MEDIA_ID_BASE for m in media), default=0)
        self._post_seq = itertools.count(last_post + 1)
        self._media_seq = itertools.count(last_media + 1)
        self.dirty.clear()

    def _index(self, post: XPost) -> None:
        self._posts_changed += 1
        self.posts[post.id] = post
        if not post.deleted:
            self._live_texts[(post.author_id, post.text)] += 1
        self._by_author.setdefault(post.author_id, []).append(post.id)
        self._by_conversation.setdefault(post.conversation_id, []).append(post.id)
        if post.in_reply_to_post_id:
            self._replies_to.setdefault(post.in_reply_to_post_id, []).append(post.id)
        if post.quoted_post_id:
            self._quotes_of.setdefault(post.quoted_post_id, []).append(post.id)

    def revoke_token(self, token: str) -> None:
        self.revoked_tokens.add(token)
        self.dirty.add(("revoked", token))

    def restore_token(self, token: str) -> None:
        self.revoked_tokens.discard(token)
        self.dirty.add(("revoked", token))

    # --- users -------------------------------------------------------------------------

    def add_user(self, user_id: str, username: str | None = None) -> XUser:
        existing = self.users.get(user_id)
        if existing is not None:
            return existing
        digest = hashlib.sha256(f"sandbox-user:{user_id}".encode()).hexdigest()[:32]
        user = XUser(id=user_id, username=username or f"user{user_id}", token=f"sbx-{digest}")
        self.users[user_id] = user
        self.users_by_token[user.token] = user
        self.dirty.add(("user", user_id))
        return user

    # --- posts -------------------------------------------------------------------------

    def create_post(
        self,
        author: XUser,
        text: str,
        *,
        reply_to: str | None = None,
        quote_of: str | None = None,
        media_ids: list[str] | None = None,
        check_duplicate: bool = True,
    ) -> XPost:
        if check_duplicate and self._live_texts[(author.id, text)] > 0:
            raise x_duplicate_content()
        parent = (
            self.visible_post(reply_to, parameter="reply.in_reply_to_tweet_id")
            if reply_to
            else None
        )
        if quote_of:
            self.visible_post(quote_of, parameter="quote_tweet_id")
        for media_id in media_ids or []:
            upload = self.media.get(media_id)
            if upload is None or upload.state != "succeeded":
                raise x_invalid_request(
                    f"Your media IDs are invalid or not processed: {media_id}",
                    parameter="media.media_ids",
                )
        post_id = str(_POST_ID_BASE + next(self._post_seq))
        post = XPost(
            id=post_id,
            author_id=author.id,
            text=text,
            created_at=now_utc(),
            conversation_id=parent.conversation_id if parent else post_id,
            in_reply_to_post_id=parent.id if parent else None,
            in_reply_to_user_id=parent.author_id if parent else None,
            quoted_post_id=quote_of,
            media_ids=list(media_ids or []),
        )
        self._index(post)
        self.dirty.add(("post", post_id))
        return post

    def delete_post(self, author: XUser, post_id: str) -> bool:
        post = self.posts.get(post_id)
        if post is None or post.deleted:
            return False
        if post.author_id != author.id:
            raise x_forbidden("You are not allowed to delete this Post.", "post", post_id)
        post.deleted = True
        self._posts_changed += 1
        self._live_texts[(post.author_id, post.text)] -= 1
        self.dirty.add(("post", post_id))
        return True

    def visible_post(self, post_id: str, *, parameter: str = "id") -> XPost:
        post = self.posts.get(post_id)
        if post is None or post.deleted:
            raise x_not_found("post", post_id, parameter)
        return post

    def like(self, post_id: str, user_id: str) -> None:
        post = self.visible_post(post_id, parameter="tweet_id")
        if user_id not in post.likers:
            post.likers.append(user_id)
            self.dirty.add(("post", post_id))

    def repost(self, post_id: str, user_id: str) -> None:
        post = self.visible_post(post_id, parameter="tweet_id")
        if user_id not in post.reposters:
            post.reposters.append(user_id)
            self.dirty.add(("post", post_id))

    def _alive(self, ids: list[str]) -> list[XPost]:
        return [self.posts[pid] for pid in ids if not self.posts[pid].deleted]

    def metrics(self, post: XPost) -> dict[str, int]:
        likes, reposts = len(post.likers), len(post.reposters)
        replies = len(self._alive(self._replies_to.get(post.id, [])))
        quotes = len(self._alive(self._quotes_of.get(post.id, [])))
        return {
            "like_count": likes,
            "repost_count": reposts,
            "reply_count": replies,
            "quote_count": quotes,
            "bookmark_count": 0,
            "impression_count": 10 * (likes + reposts + replies + quotes),
        }

    # --- lists, newest first -----------------------------------------------------------

    def latest_users(self, user_ids: list[str]) -> list[XUser]:
        return [self.add_user(uid) for uid in reversed(user_ids[-LIST_WINDOW:])]

    def quotes_of(self, post_id: str) -> list[XPost]:
        self.visible_post(post_id)
        return list(reversed(self._alive(self._quotes_of.get(post_id, []))))

    def by_author(self, user_id: str) -> list[XPost]:
        return list(reversed(self._alive(self._by_author.get(user_id, []))))

    def search(self, conversation_id: str | None, author_id: str | None) -> list[XPost]:
        """Live posts of a conversation and/or an author, newest first (do not modify)."""
        key = (conversation_id, author_id)
        kept = self._searched.get(key)
        if kept is not None and kept[0] == self._posts_changed:
            return kept[1]
        found = self._search(conversation_id, author_id)
        if len(self._searched) >= SEARCHES_KEPT:
            self._searched.clear()
        self._searched[key] = (self._posts_changed, found)
        return found

    def _search(self, conversation_id: str | None, author_id: str | None) -> list[XPost]:
        if conversation_id is not None:
            ids = self._by_conversation.get(conversation_id, [])
        elif author_id is not None:
            ids = self._by_author.get(author_id, [])
        else:
            ids = list(self.posts)
        posts = self._alive(ids)
        if author_id is not None:
            posts = [p for p in posts if p.author_id == author_id]
        return list(reversed(posts))
