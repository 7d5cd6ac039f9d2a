"""A campaign's definition: what the API accepts and what the activities read back.

Validation here is the single source of what a publishable draft is.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

X_MAX_POST_LENGTH = 280
ALLOWED_MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "video/mp4")
MIN_DURATION_SECONDS = 60
MAX_DURATION_SECONDS = 90 * 24 * 3600
MIN_POLL_INTERVAL_SECONDS = 10
MAX_POLL_INTERVAL_SECONDS = 24 * 3600
# Amounts are stored as 64-bit integers in the smallest unit (BIGINT on both databases).
MAX_AMOUNT = 2**63 - 1
ENGAGEMENT_KINDS = ("like", "repost", "quote", "reply")

EngagementKind = Literal["like", "repost", "quote", "reply"]
CampaignType = Literal["awareness", "quest"]


class SpecRefusal(ValueError):
    """A rule across fields, broken: the field it is about (for the 422's ``errors``) and a
    sentence that names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class Media(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    media_type: Literal["image/png", "image/jpeg", "image/gif", "image/webp", "video/mp4"]


class FirstPost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=X_MAX_POST_LENGTH)
    media: list[Media] = Field(default_factory=list, max_length=4)


class SecondPost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=X_MAX_POST_LENGTH)


class Rewards(BaseModel):
    """Awareness rates per engagement kind, in the asset's smallest unit."""

    model_config = ConfigDict(extra="forbid")

    like: int = Field(default=0, ge=0)
    repost: int = Field(default=0, ge=0)
    quote: int = Field(default=0, ge=0)
    reply: int = Field(default=0, ge=0)

    def rate(self, kind: str) -> int:
        return int(getattr(self, kind))


class Quest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: str = Field(min_length=1, max_length=200)
    winners: int = Field(ge=1, le=100_000)


class CampaignSpec(BaseModel):
    """The body of ``POST /v1/campaigns`` (DESIGN.md, "API (v1)")."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Launch week",
                    "type": "awareness",
                    "asset": "native",
                    "budget": 1_000_000,
                    "rewards": {"like": 10, "repost": 30, "quote": 50, "reply": 20},
                    "first_post": {
                        "text": "We launched! Like, repost, quote or reply to earn.",
                        "media": [
                            {"url": "https://example.com/launch.png", "media_type": "image/png"}
                        ],
                    },
                    "second_post": {"text": "Terms: rewards paid once per person and kind."},
                    "duration_seconds": 86400,
                    "poll_interval_seconds": 300,
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    type: CampaignType
    asset: str = Field(default="native", min_length=1, max_length=64)
    budget: int = Field(gt=0, le=MAX_AMOUNT)
    rewards: Rewards | None = None
    quest: Quest | None = None
    first_post: FirstPost
    second_post: SecondPost
    duration_seconds: int = Field(ge=MIN_DURATION_SECONDS, le=MAX_DURATION_SECONDS)
    poll_interval_seconds: int = Field(
        default=300, ge=MIN_POLL_INTERVAL_SECONDS, le=MAX_POLL_INTERVAL_SECONDS
    )

    @model_validator(mode="after")
    def _type_matches_terms(self) -> CampaignSpec:
        if self.type == "awareness":
            if self.rewards is None:
                raise SpecRefusal("rewards", "an awareness campaign needs rewards")
            if self.quest is not None:
                raise SpecRefusal("quest", "an awareness campaign takes rewards, not quest")
            rates = [self.rewards.rate(kind) for kind in ENGAGEMENT_KINDS]
            if not any(rate > 0 for rate in rates):
                raise SpecRefusal("rewards", "rewards must pay more than 0 for at least one kind")
            smallest = min(rate for rate in rates if rate > 0)
            if self.budget < smallest:
                raise SpecRefusal(
                    "budget", f"budget does not cover a single reward (the smallest is {smallest})"
                )
        else:
            if self.quest is None:
                raise SpecRefusal("quest", "a quest campaign needs quest")
            if self.rewards is not None:
                raise SpecRefusal("rewards", "a quest campaign takes quest, not rewards")
            if self.budget // self.quest.winners < 1:
                raise SpecRefusal(
                    "budget",
                    f"budget does not cover one unit for each of {self.quest.winners} winners",
                )
        if self.poll_interval_seconds > self.duration_seconds:
            raise SpecRefusal(
                "poll_interval_seconds",
                f"poll_interval_seconds ({self.poll_interval_seconds}) is longer than "
                f"duration_seconds ({self.duration_seconds})",
            )
        return self
