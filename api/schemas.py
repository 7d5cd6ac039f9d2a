"""What enters and leaves the API: request bodies (with examples) and ``Public`` responses.

Tables never leave the API; only these models do. The status document mirrors
``core.contracts.StatusDocument`` field for field (a test keeps them in step), so the
pydantic data converter decodes the workflow's ``status`` query straight into it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from core.campaign_spec import MAX_AMOUNT, CampaignSpec


def _not_a_number(value: Any) -> Any:
    """Pydantic would read a number as seconds since 1970 (``{"start_at": 0}`` as 1970, a
    campaign started at once); the description promises date-time text, so only text is."""
    if isinstance(value, int | float):
        # Not a ValueError: a 422 names the field of a type error (api/validation_messages.py).
        raise PydanticCustomError(
            "datetime_type",
            "a date-time in ISO 8601 text (e.g. 2030-01-01T12:00:00Z), not a number",
        )
    return value


# A time a client sends: ISO 8601 text with its offset.
DateTimeText = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]

# --- owners and participants ---------------------------------------------------------------


class OwnerCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Acme",
                    "x_user_id": "1500000000000000001",
                    "x_access_token": "owner-x-token",
                    "wallet": "acme-wallet",
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    x_user_id: str = Field(min_length=1, max_length=64)
    x_access_token: str | None = Field(default=None, min_length=1, max_length=2000)
    wallet: str = Field(min_length=1, max_length=200)


class OwnerPublic(BaseModel):
    id: str
    name: str
    x_user_id: str
    wallet: str
    created_at: datetime


class OwnerCreatedPublic(OwnerPublic):
    api_key: str = Field(description="The owner's API key. Shown once; only its hash is stored.")


class ParticipantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x_user_id: str = Field(min_length=1, max_length=64)
    wallet: str = Field(min_length=1, max_length=200)


class ParticipantsUpsert(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "participants": [
                        {"x_user_id": "1600000000000000001", "wallet": "wallet-1"},
                        {"x_user_id": "1600000000000000002", "wallet": "wallet-2"},
                    ]
                }
            ]
        },
    )

    participants: list[ParticipantIn] = Field(min_length=1, max_length=10_000)


class ParticipantsUpsertedPublic(BaseModel):
    upserted: int


# --- campaigns ------------------------------------------------------------------------------


class CampaignPublic(CampaignSpec):
    """The definition as created, plus what the service adds."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=None)

    id: str
    owner_id: str
    status: str
    workflow_id: str | None = None
    run_id: str | None = None
    start_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class CampaignPagePublic(BaseModel):
    items: list[CampaignPublic]
    total: int
    page: int
    page_size: int


class PublishRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{}, {"start_at": "2030-01-01T12:00:00Z"}]}
    )

    start_at: DateTimeText | None = Field(
        default=None, description="Start later (status 'scheduled'); omitted: start now."
    )


class PublishedPublic(BaseModel):
    workflow_id: str
    run_id: str


class ReasonRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "brand review"}, {}]}
    )

    reason: str | None = Field(default=None, max_length=500)


class SignalSentPublic(BaseModel):
    campaign_id: str
    workflow_id: str
    signal: str
    reason: str | None = None


class ExtendBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"closes_at": "2030-01-02T12:00:00Z"}]}
    )

    closes_at: DateTimeText


class ExtendedPublic(BaseModel):
    closes_at: datetime


class TopUpBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": 50_000}]})

    amount: int = Field(gt=0, le=MAX_AMOUNT)


# An idempotency key: safe in a URL path segment, a Temporal update ID and a ledger key.
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9\-_.:]{1,100}$"


class TopUpPublic(BaseModel):
    """A top-up under its idempotency key: ``done`` with the new budget, or ``in_progress``
    (its outcome will be at ``outcome``)."""

    key: str
    state: Literal["done", "in_progress"]
    budget: int | None = Field(default=None, description="The new budget, once done.")
    outcome: str = Field(description="Where the top-up's outcome is read (GET).")


class TimelineEventPublic(BaseModel):
    seq: int
    at: datetime
    kind: str
    status: str
    data: dict[str, Any]


class TimelinePublic(BaseModel):
    events: list[TimelineEventPublic]


# --- the status document ---------------------------------------------------------------------


class _Lenient(BaseModel):
    # Tolerates fields a newer workflow adds, so an old API keeps answering.
    model_config = ConfigDict(extra="ignore")


class PostsPublic(_Lenient):
    first: str | None = None
    second: str | None = None


class EscrowPublic(_Lenient):
    id: str | None = None
    locked: int = 0


class EngagementPublic(_Lenient):
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    unique_engagers: int = 0
    polls: int = 0
    last_polled_at: datetime | None = None


class RewardsPublic(_Lenient):
    earned: int = 0
    recipients: int = 0
    paid: int = 0
    failed: int = 0
    pending: int = 0
    ineligible: int = 0
    paid_amount: int = 0


class BudgetPublic(_Lenient):
    total: int = 0
    spent: int = 0
    refunded: int = 0
    remaining: int = 0


class AttentionPublic(_Lenient):
    step: str
    reason: str
    since: datetime


class RetryingStepPublic(_Lenient):
    step: str
    attempt: int
    since: datetime | None = None
    reason: str | None = None


class StatusDocumentPublic(_Lenient):
    campaign_id: str
    workflow_id: str
    status: str
    paused: bool = False
    published_at: datetime | None = None
    closes_at: datetime | None = None
    closed_at: datetime | None = None
    posts: PostsPublic = Field(default_factory=PostsPublic)
    escrow: EscrowPublic = Field(default_factory=EscrowPublic)
    engagement: EngagementPublic = Field(default_factory=EngagementPublic)
    rewards: RewardsPublic = Field(default_factory=RewardsPublic)
    budget: BudgetPublic = Field(default_factory=BudgetPublic)
    failure: str | None = None
    attention: AttentionPublic | None = None
    # Filled by the API from Temporal's description of the run (pending activities).
    retrying: list[RetryingStepPublic] = Field(default_factory=list)
    updated_at: datetime | None = None


class StatusAnswerPublic(StatusDocumentPublic):
    """The status document as ``GET /status`` and ``live`` answer it: from the workflow's
    query, or, when no worker answered in time, the last one recorded in the database."""

    source: Literal["query", "recorded"] = "query"
    # When the recorded document was written (source "recorded" only).
    recorded_at: datetime | None = None


class CampaignDetailPublic(CampaignPublic):
    live: StatusAnswerPublic


# --- health ----------------------------------------------------------------------------------


class HealthPublic(BaseModel):
    status: str


class ReadinessPublic(BaseModel):
    status: str
    checks: dict[str, str]
