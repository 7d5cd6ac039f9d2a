"""The Temporal contract: names, statuses and the dataclasses that cross the boundary.

Names here are part of the public contract (DESIGN.md): scripts send these signals with
``temporal workflow signal --name pause`` and read the ``status`` query.
Plain dataclasses only: this module is imported by workflow code and must stay deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

WORKFLOW_ID_PREFIX = "campaign-"

SIGNAL_PAUSE = "pause"
SIGNAL_RESUME = "resume"
SIGNAL_CANCEL = "cancel"
UPDATE_EXTEND = "extend"
UPDATE_TOP_UP = "top_up"
QUERY_STATUS = "status"
# The new budget a finished top-up left, by its key (None: no such top-up); survives
# continue-as-new, where the update that made it does not.
QUERY_TOP_UP_BUDGET = "top_up_budget"

SEARCH_ATTRIBUTE_STATUS = "CampaignStatus"
SEARCH_ATTRIBUTE_TYPE = "CampaignType"
SEARCH_ATTRIBUTE_OWNER = "CampaignOwner"
SEARCH_ATTRIBUTE_NAMES = (SEARCH_ATTRIBUTE_STATUS, SEARCH_ATTRIBUTE_TYPE, SEARCH_ATTRIBUTE_OWNER)


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    RUNNING = "running"
    PAUSED = "paused"
    # Held by a refusal that retrying cannot fix (a read token X rejects): ``resume`` retries.
    ATTENTION = "attention"
    CLOSING = "closing"
    DISTRIBUTING = "distributing"
    # Undoing what was done after a failure; it takes no messages.
    COMPENSATING = "compensating"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {CampaignStatus.CLOSED, CampaignStatus.CANCELLED, CampaignStatus.FAILED}
)


def workflow_id_for(campaign_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{campaign_id}"


@dataclass
class CarriedMessages:
    """What the campaign's messages left behind, carried across continue-as-new so that a
    pause, a cancel or a top-up that arrives while the run hands over is not lost."""

    # Paused, or held in ``attention``, since then (None: not held).
    held_since: datetime | None = None
    # The status a ``resume`` returns to.
    resume_status: str | None = None
    cancel_reason: str | None = None
    # Idempotency key of every top-up locked -> the budget it answered with.
    top_ups: dict[str, int] = field(default_factory=dict)


@dataclass
class CampaignWorkflowInput:
    """Start input of ``CampaignWorkflow``. The workflow loads the definition by ID; fields
    with defaults carry state across continue-as-new (added by the workflow, never by callers)."""

    campaign_id: str
    start_at: datetime | None = None
    # Carried across continue-as-new: the status so far, the last timeline seq used, and
    # what the messages left behind.
    carried_status: StatusDocument | None = None
    timeline_seq: int = 0
    # Histories from before CarriedMessages: how many top-ups were locked.
    top_ups: int = 0
    carried: CarriedMessages | None = None
    # Continue as new past this many events, even if Temporal has not suggested it yet.
    continue_as_new_after_events: int = 5_000


# --- messages ---------------------------------------------------------------------------


@dataclass
class ExtendRequest:
    closes_at: datetime


@dataclass
class ExtendResult:
    closes_at: datetime


@dataclass
class TopUpRequest:
    amount: int
    # The client's idempotency key: also the update ID and the ledger key
    # ``<campaign>:top-up:<key>``, so a retried top-up locks once. Omitted: the update ID.
    key: str | None = None


@dataclass
class TopUpResult:
    budget: int


# --- the status document (query ``status``, ``GET /status``, ``WS /live``) ---------------


@dataclass
class PostsStatus:
    first: str | None = None
    second: str | None = None


@dataclass
class EscrowStatus:
    id: str | None = None
    locked: int = 0


@dataclass
class EngagementStatus:
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    unique_engagers: int = 0
    polls: int = 0
    last_polled_at: datetime | None = None


@dataclass
class RewardsStatus:
    earned: int = 0
    recipients: int = 0
    paid: int = 0
    failed: int = 0
    pending: int = 0
    ineligible: int = 0
    paid_amount: int = 0


@dataclass
class BudgetStatus:
    total: int = 0
    spent: int = 0
    refunded: int = 0
    remaining: int = 0


@dataclass
class AttentionStatus:
    """Why the campaign is held in ``attention``: the step, the refusal, since when."""

    step: str
    reason: str
    since: datetime


@dataclass
class RetryingStep:
    """A step that is failing and being retried (read from Temporal's pending activities)."""

    step: str
    attempt: int
    since: datetime | None = None
    reason: str | None = None


@dataclass
class StatusDocument:
    campaign_id: str
    workflow_id: str
    status: str
    paused: bool = False
    published_at: datetime | None = None
    closes_at: datetime | None = None
    closed_at: datetime | None = None
    posts: PostsStatus = field(default_factory=PostsStatus)
    escrow: EscrowStatus = field(default_factory=EscrowStatus)
    engagement: EngagementStatus = field(default_factory=EngagementStatus)
    rewards: RewardsStatus = field(default_factory=RewardsStatus)
    budget: BudgetStatus = field(default_factory=BudgetStatus)
    failure: str | None = None
    attention: AttentionStatus | None = None
    # Filled by the API from Temporal's description of the run, never by the workflow.
    retrying: list[RetryingStep] = field(default_factory=list)
    updated_at: datetime | None = None


# --- between the campaign workflow and its reward table / distribution --------------------

DISTRIBUTION_WORKFLOW_ID_SUFFIX = "-distribution"
SIGNAL_DISTRIBUTION_PROGRESS = "distribution_progress"


def distribution_workflow_id_for(campaign_id: str) -> str:
    return f"{workflow_id_for(campaign_id)}{DISTRIBUTION_WORKFLOW_ID_SUFFIX}"


@dataclass
class RewardTableRequest:
    """Build (idempotently) the campaign's payout rows from its recorded engagements."""

    campaign_id: str
    budget: int  # what is locked in escrow now (top-ups included)


@dataclass
class RewardTableResult:
    earned: int  # sum of the amounts in the payout rows
    recipients: int  # payout rows (one per eligible recipient)
    ineligible: int  # distinct engagers who would have earned but have no wallet


@dataclass
class DistributionInput:
    """Input of the distribution child workflow; ``after_seq`` carries progress across
    continue-as-new (payout rows with ``seq`` at or below it are settled)."""

    campaign_id: str
    escrow_id: str
    parent_workflow_id: str
    # Rows per pay_batch activity (it pays them in ledger calls of 500); runs started before
    # the side-by-side batches had 500.
    batch_size: int = 2000
    after_seq: int = 0
    # The number of payout rows (seqs 1..N), when the caller knows it: the batches then start
    # side by side at once; 0 means the first batch finds out.
    recipients: int = 0


@dataclass
class DistributionProgress:
    """Counts derived from the payout rows, sent to the parent after every batch."""

    recipients: int = 0
    paid: int = 0
    failed: int = 0
    pending: int = 0
    paid_amount: int = 0


@dataclass
class DistributionResult:
    progress: DistributionProgress
