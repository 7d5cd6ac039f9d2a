"""Ports: what the campaign needs from the social platform and from the ledger.

Activities depend on these Protocols; ``clients.x_api`` and ``clients.ledger`` are the httpx
adapters, wired in ``worker.py``. Errors are typed so activities can tell what to retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# --- errors -------------------------------------------------------------------------------


class ExternalError(Exception):
    """Base of every error an adapter raises."""


class RateLimited(ExternalError):
    """429 or an exhausted window: wait until ``reset_at`` before calling again."""

    def __init__(self, message: str, *, reset_at: datetime) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class RetryableError(ExternalError):
    """5xx, a timeout or a lost connection: the outcome of a write is unknown."""


class PermanentError(ExternalError):
    """A 4xx other than 429: retrying the same request cannot succeed."""

    def __init__(
        self, message: str, *, status: int, type: str | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.detail = detail


class DuplicateContent(PermanentError):
    """X refused a post whose text the author already posted (403, no post ID given)."""


class MediaProcessingFailed(PermanentError):
    """The platform finished processing uploaded media with ``state: failed``."""


class InsufficientFunds(PermanentError):
    """The ledger refused to move more than a wallet or an escrow holds."""


# --- social platform ----------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    id: str
    text: str
    author_id: str | None = None
    conversation_id: str | None = None
    in_reply_to_post_id: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class PostMetrics:
    post_id: str
    like_count: int
    repost_count: int
    reply_count: int
    quote_count: int
    impression_count: int = 0


@dataclass(frozen=True)
class SocialUser:
    id: str
    username: str | None = None


ProgressCallback = Callable[[str], Awaitable[None] | None]


class SocialPlatform(Protocol):
    """X API v2, as the campaign uses it. ``token`` is the author's bearer token, if any."""

    async def create_post(
        self,
        text: str,
        *,
        reply_to: str | None = None,
        media_ids: Sequence[str] = (),
        token: str | None = None,
    ) -> Post: ...

    async def delete_post(self, post_id: str, *, token: str | None = None) -> bool: ...

    async def upload_media(
        self,
        data: bytes,
        media_type: str,
        *,
        token: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> str:
        """Upload (initialize, append in chunks, finalize) and wait until processing succeeds.

        Returns the media ID; raises ``MediaProcessingFailed`` if processing fails.
        ``on_progress`` is called on every status poll (activities heartbeat there).
        """
        ...

    async def post_metrics(self, post_id: str) -> PostMetrics: ...

    async def liking_users(self, post_id: str) -> list[SocialUser]: ...

    async def reposted_by(self, post_id: str) -> list[SocialUser]: ...

    async def quote_posts(self, post_id: str) -> list[Post]: ...

    async def replies(self, conversation_id: str, *, since: datetime | None = None) -> list[Post]:
        """The conversation's posts but its first; ``since``: only those X created from that
        second on (recent search's ``start_time``; X reaches back seven days)."""
        ...

    async def recent_posts(
        self, user_id: str, *, token: str | None = None, max_results: int = 100
    ) -> list[Post]: ...


# --- ledger -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Escrow:
    id: str
    key: str
    campaign_id: str
    owner_wallet: str
    asset: str
    locked: int
    paid: int
    refunded: int
    balance: int
    closed: bool


@dataclass(frozen=True)
class Receipt:
    """The ledger's answer to one keyed operation; a repeated key returns the first one."""

    id: str
    key: str
    kind: str  # lock | payout | refund
    escrow_id: str
    amount: int
    to: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class TransferOrder:
    key: str
    to: str
    amount: int


MAX_TRANSFERS_PER_BATCH = 500


class Ledger(Protocol):
    """An escrow-holding ledger. Every operation takes a business key."""

    async def create_escrow(
        self, key: str, *, campaign_id: str, owner_wallet: str, asset: str
    ) -> Escrow: ...

    async def lock(self, key: str, *, escrow_id: str, amount: int) -> Receipt: ...

    async def transfer_batch(
        self, escrow_id: str, transfers: Sequence[TransferOrder]
    ) -> list[Receipt]:
        """Up to ``MAX_TRANSFERS_PER_BATCH`` payouts, one key each; repeats answer as before."""
        ...

    async def refund(self, key: str, *, escrow_id: str) -> Receipt:
        """Refund the escrow's whole remaining balance to its owner."""
        ...

    async def close(self, key: str, *, escrow_id: str) -> Escrow: ...

    async def get_escrow(self, escrow_id: str) -> Escrow: ...

    async def lookup(self, key: str) -> Receipt | None: ...
