"""The campaign's current details in the Temporal Web UI: Markdown an operator reads at a glance.

A pure function of the status document, the asset and the workflow's clock: the details are
set with ``workflow.set_current_details``, which issues no command, so changing this text needs
no patch. Amounts are in the asset's smallest unit, with its name; times are UTC.
"""

from __future__ import annotations

from datetime import datetime

from core import display
from core.contracts import CampaignStatus, StatusDocument

_HEADLINES = {
    CampaignStatus.SCHEDULED: "Scheduled: waiting for its start time",
    CampaignStatus.PUBLISHING: "Publishing: first post, escrow lock, second post",
    CampaignStatus.RUNNING: "Running: polling engagement",
    CampaignStatus.PAUSED: "Paused: no polling until resumed",
    CampaignStatus.ATTENTION: "Needs attention",
    CampaignStatus.CLOSING: "Closing: final fetch and reward table",
    CampaignStatus.DISTRIBUTING: "Distributing rewards",
    CampaignStatus.CLOSED: "Closed",
    CampaignStatus.CANCELLED: "Cancelled before anything was published",
    CampaignStatus.FAILED: "Failed",
}


def _headline(doc: StatusDocument) -> str:
    try:
        headline = _HEADLINES[CampaignStatus(doc.status)]
    except (KeyError, ValueError):
        headline = doc.status
    return f"**{headline}**" + (" (paused)" if doc.paused else "")


def _when(doc: StatusDocument, now: datetime) -> str:
    if doc.closed_at is not None:
        return f"ended {display.utc_time(doc.closed_at)}"
    if doc.closes_at is None:
        return "not running yet"
    return f"closes {display.utc_time(doc.closes_at)} ({display.relative(doc.closes_at, now)})"


def details_markdown(doc: StatusDocument, *, asset: str | None, now: datetime) -> str:
    """Status and end, then budget, payouts and engagement as a list, then what went wrong."""
    engagement, rewards, budget = doc.engagement, doc.rewards, doc.budget
    unit = asset or "units"

    def money(value: int) -> str:
        return display.amount(value, unit)

    lines = [f"{_headline(doc)} · {_when(doc, now)}", ""]
    lines.append(
        f"- **Budget:** {money(budget.total)} · earned {money(rewards.earned)} "
        f"({display.percent(rewards.earned, budget.total)}) · paid {money(rewards.paid_amount)}"
        f" · refunded {money(budget.refunded)} · remaining {money(budget.remaining)}"
    )
    if rewards.recipients:
        lines.append(
            f"- **Payouts:** {display.of(rewards.paid, rewards.recipients)} paid "
            f"({display.percent(rewards.paid, rewards.recipients)}) · {rewards.failed:,} failed"
            f" · {rewards.ineligible:,} ineligible (no wallet)"
        )
    else:
        lines.append(
            f"- **Payouts:** none yet, paid after the close · "
            f"{rewards.ineligible:,} ineligible (no wallet) so far"
        )
    polled = engagement.last_polled_at
    lines.append(
        f"- **Engagement:** {engagement.unique_engagers:,} unique engagers "
        f"({engagement.likes:,} likes, {engagement.reposts:,} reposts, "
        f"{engagement.quotes:,} quotes, {engagement.replies:,} replies) · "
        f"{engagement.polls:,} poll{'' if engagement.polls == 1 else 's'}"
        + (f", last {display.relative(polled, now)}" if polled is not None else "")
    )
    if doc.attention:
        lines += [
            "",
            f"> **Needs attention** since {display.utc_time(doc.attention.since)}, "
            f"{doc.attention.step}: {doc.attention.reason}. Fix it, then send `resume`.",
        ]
    if doc.failure:
        lines += ["", f"> **Failure:** {doc.failure}"]
    lines += ["", f"_As of {display.utc_time(now)}_"]
    return "\n".join(lines)
