"""What a poll's result does to the status document. The final fetch leaves the earnings to
the reward table built right after it (None): the document keeps the last poll's earnings
until the table lands, while the engagement counts move."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.payloads import PollResult
from core.contracts import StatusDocument
from workflows.campaign_state import apply_poll

POLLED_AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def result(replies: int, earned: int | None, ineligible: int | None) -> PollResult:
    return PollResult(
        likes=0,
        reposts=0,
        replies=replies,
        quotes=0,
        unique_engagers=replies,
        earned=earned,
        recipients=None if earned is None else replies,
        ineligible=ineligible,
        exhausted=None if earned is None else False,
        polled_at=POLLED_AT,
    )


def test_a_running_poll_sets_the_earnings_and_the_final_fetch_keeps_them() -> None:
    doc = StatusDocument("c1", "campaign-c1", "running")
    apply_poll(doc, result(replies=3, earned=60, ineligible=1))
    assert (doc.rewards.earned, doc.rewards.ineligible, doc.engagement.replies) == (60, 1, 3)

    apply_poll(doc, result(replies=5, earned=None, ineligible=None))  # the final fetch
    assert (doc.engagement.replies, doc.engagement.unique_engagers) == (5, 5)
    assert (doc.rewards.earned, doc.rewards.ineligible) == (60, 1), "never None in the document"
    assert doc.engagement.polls == 2 and doc.engagement.last_polled_at == POLLED_AT
