"""Bookkeeping of the campaign's status document inside the workflow: pure functions only.

The document is the workflow's state (it is carried across continue-as-new); these functions
apply activity results and child progress to it (its Web UI rendering is
``workflows/campaign_details.py``).
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError, FailureError

from activities.payloads import PollResult
from core.contracts import CampaignStatus, DistributionProgress, StatusDocument

# Statuses in which the campaign still takes pause, extend and top-up.
ACTIVE_STATUSES = frozenset(
    {
        CampaignStatus.SCHEDULED,
        CampaignStatus.PUBLISHING,
        CampaignStatus.RUNNING,
        CampaignStatus.PAUSED,
    }
)


def recompute_budget(doc: StatusDocument) -> None:
    doc.budget.spent = doc.rewards.paid_amount
    doc.budget.remaining = max(0, doc.budget.total - doc.budget.spent - doc.budget.refunded)


def apply_poll(doc: StatusDocument, result: PollResult) -> None:
    engagement = doc.engagement
    engagement.likes = result.likes
    engagement.reposts = result.reposts
    engagement.replies = result.replies
    engagement.quotes = result.quotes
    engagement.unique_engagers = result.unique_engagers
    engagement.polls += 1
    engagement.last_polled_at = result.polled_at
    if result.earned is not None:  # the final fetch leaves them to the reward table
        doc.rewards.earned = result.earned
    if result.ineligible is not None:
        doc.rewards.ineligible = result.ineligible


def apply_progress(doc: StatusDocument, progress: DistributionProgress) -> None:
    rewards = doc.rewards
    rewards.recipients = progress.recipients
    rewards.paid = progress.paid
    rewards.failed = progress.failed
    rewards.pending = progress.pending
    rewards.paid_amount = progress.paid_amount
    recompute_budget(doc)


def is_read_refused(error: BaseException) -> bool:
    """X refused a read in a way retrying cannot fix (401, 403): an operator must act."""
    cause = error.__cause__
    return isinstance(cause, ApplicationError) and cause.type in ("ReadRefused", "PermanentError")


def describe_failure(error: BaseException) -> str:
    """The first application error under Temporal's wrapping (activity, child workflow): what
    the step said went wrong, not the low-level exception it chained on."""
    cause: BaseException | None = error
    message = str(error)
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.message:
            kind = f"{cause.type}: " if cause.type else ""
            return f"{kind}{cause.message}"
        if isinstance(cause, FailureError) and cause.message:
            message = cause.message
        cause = cause.__cause__
    return message
