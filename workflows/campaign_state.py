"""Bookkeeping of the campaign's status document inside the workflow: pure functions only.

The document is the workflow's state (it is carried across continue-as-new); these functions
apply activity results and child progress to it and render it for the Web UI.
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
    doc.rewards.earned = result.earned
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


def details_markdown(doc: StatusDocument) -> str:
    """Current details for the Web UI: status, engagement, rewards progress."""
    engagement, rewards, budget = doc.engagement, doc.rewards, doc.budget
    lines = [
        f"**Status:** {doc.status}" + (" (paused)" if doc.paused else ""),
        "",
        f"**Ends:** {doc.closes_at.isoformat() if doc.closes_at else 'not yet running'}",
        "",
        "**Engagement:** "
        f"{engagement.likes} likes, {engagement.reposts} reposts, {engagement.replies} replies, "
        f"{engagement.quotes} quotes; {engagement.unique_engagers} unique engagers "
        f"after {engagement.polls} polls",
        "",
        f"**Rewards:** earned {rewards.earned} of {budget.total}; "
        f"{rewards.paid}/{rewards.recipients} recipients paid ({rewards.paid_amount}), "
        f"{rewards.failed} failed, {rewards.ineligible} ineligible",
        "",
        f"**Budget:** locked {doc.escrow.locked}, spent {budget.spent}, "
        f"refunded {budget.refunded}, remaining {budget.remaining}",
    ]
    if doc.attention:
        since = doc.attention.since.isoformat()
        lines += ["", f"**Needs attention** since {since}: {doc.attention.reason} (resume retries)"]
    if doc.failure:
        lines += ["", f"**Failure:** {doc.failure}"]
    return "\n".join(lines)
