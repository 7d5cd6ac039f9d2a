"""The campaign's own metrics: their names, labels and one helper each.

They are recorded on Temporal's metric meters (``workflow.metric_meter()`` in workflow code,
which records nothing while a history replays, and ``activity.metric_meter()`` in
activities), so they are served by the worker's Prometheus endpoint beside the SDK's own
``temporal_*`` metrics. The meters add ``namespace``, ``task_queue`` and ``workflow_type`` or
``activity_type`` labels themselves.

No I/O, no settings, no clock: workflow code imports this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from temporalio import activity
from temporalio.common import MetricGauge, MetricMeter

TRANSITIONS = "campaigns_transitions"
PAYOUTS = "campaigns_payouts"
EFFECTS_FOUND_DONE = "campaigns_effects_found_done"
RATE_LIMIT_WAITS = "campaigns_rate_limit_waits"
NEEDING_ATTENTION = "campaigns_needing_attention"

# Running campaigns held in ``attention``: a run that ended (terminated, say) while it showed
# ``attention`` keeps that search attribute forever, so the execution status matters too.
NEEDING_ATTENTION_QUERY = "CampaignStatus='attention' AND ExecutionStatus='Running'"

# How an effect was found already done instead of being sent again.
RECORDED = "recorded"  # its row said done: an earlier attempt finished it
LOOKED_UP = "looked-up"  # its outcome was unknown and the platform showed it (a post by text)


def activity_meter() -> MetricMeter:
    """The running activity's meter; a no-op one outside an activity (an activity's code
    called directly, as some tests do)."""
    return activity.metric_meter() if activity.in_activity() else MetricMeter.noop


def count_transition(meter: MetricMeter, status: str) -> None:
    meter.create_counter(TRANSITIONS, "Campaign status transitions, by the status entered.").add(
        1, {"status": status}
    )


def count_payouts(meter: MetricMeter, outcomes: Iterable[str]) -> None:
    """One count per payout settled, labelled by its outcome (``paid`` or ``failed``)."""
    counter = meter.create_counter(PAYOUTS, "Payouts settled, by outcome (paid or failed).")
    for outcome, count in Counter(outcomes).items():
        counter.add(count, {"outcome": outcome})


def count_effect_found_done(meter: MetricMeter, kind: str, how: str) -> None:
    meter.create_counter(
        EFFECTS_FOUND_DONE,
        "Effects an attempt found already done and did not send again, by kind and how.",
    ).add(1, {"kind": kind, "how": how})


def count_rate_limit_wait(meter: MetricMeter) -> None:
    meter.create_counter(
        RATE_LIMIT_WAITS, "Activity attempts that stopped to wait out a rate limit's reset."
    ).add(1)


def needing_attention_gauge(meter: MetricMeter) -> MetricGauge:
    return meter.create_gauge(
        NEEDING_ATTENTION, "Running campaigns held in attention now (from visibility)."
    )
