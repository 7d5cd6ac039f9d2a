"""The Web UI's current details tell the campaign's story: amounts with their asset, times in
UTC and relative to now, progress as x of y. The formatter alone, then a running campaign's
details as the Web UI reads them (the ``__temporal_workflow_metadata`` query) on the dev
server."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from core.contracts import AttentionStatus, StatusDocument
from tests.helpers import assert_eventually
from tests.workflows.standins import make_world, standin_worker, start
from workflows.campaign_details import details_markdown

NOW = datetime(2026, 12, 3, 14, 5, tzinfo=UTC)
# What str(exception), a repr or a raw datetime would leave in the text.
RAW = re.compile(r"\d{2}:\d{2}:\d{2}|\+00:00|T\d{2}:|Error\b|None|\{|\}")


def running_document() -> StatusDocument:
    doc = StatusDocument("c1", "campaign-c1", "running")
    doc.published_at = NOW - timedelta(hours=1)
    doc.closes_at = NOW + timedelta(hours=3)
    doc.budget.total = doc.budget.remaining = doc.escrow.locked = 12_500
    doc.rewards.earned = 5_000
    doc.engagement.likes, doc.engagement.reposts = 1_200, 30
    doc.engagement.unique_engagers, doc.engagement.polls = 1_210, 12
    doc.engagement.last_polled_at = NOW - timedelta(minutes=4)
    return doc


def test_a_running_campaign_reads_as_amounts_times_and_progress() -> None:
    text = details_markdown(running_document(), asset="USDC", now=NOW)
    lines = text.splitlines()
    assert lines[0] == "**Running: polling engagement** · closes 2026-12-03 17:05 UTC (in 3 h)"
    assert "- **Budget:** 12,500 USDC · earned 5,000 USDC (40 %) · paid 0 USDC" in text
    assert "remaining 12,500 USDC" in text
    assert "- **Payouts:** none yet, paid after the close" in text
    assert (
        "- **Engagement:** 1,210 unique engagers (1,200 likes, 30 reposts, 0 quotes, 0 replies)"
        " · 12 polls, last 4 min ago"
    ) in text
    assert lines[-1] == "_As of 2026-12-03 14:05 UTC_"
    assert not RAW.search(text), text


def test_distribution_reads_as_x_of_y_and_an_end_as_a_time() -> None:
    doc = running_document()
    doc.status, doc.closed_at = "distributing", None
    doc.rewards.recipients, doc.rewards.paid, doc.rewards.paid_amount = 300, 120, 2_000
    doc.rewards.failed, doc.rewards.ineligible = 2, 7
    text = details_markdown(doc, asset="USDC", now=NOW)
    assert "- **Payouts:** 120 of 300 paid (40 %) · 2 failed · 7 ineligible (no wallet)" in text
    assert "paid 2,000 USDC" in text
    doc.status, doc.closed_at = "closed", NOW - timedelta(minutes=30)
    closed = details_markdown(doc, asset="USDC", now=NOW)
    assert closed.splitlines()[0] == "**Closed** · ended 2026-12-03 13:35 UTC"


def test_attention_and_failure_say_what_to_do_and_before_a_definition_no_asset() -> None:
    doc = StatusDocument("c1", "campaign-c1", "attention")
    doc.attention = AttentionStatus("poll", "X refused the read token (401)", NOW)
    text = details_markdown(doc, asset=None, now=NOW)
    assert text.splitlines()[0] == "**Needs attention** · not running yet"
    assert (
        "> **Needs attention** since 2026-12-03 14:05 UTC, poll: "
        "X refused the read token (401). Fix it, then send `resume`."
    ) in text
    assert "- **Budget:** 0 units" in text
    doc.status, doc.attention, doc.failure = "failed", None, "the escrow lock was refused"
    assert "> **Failure:** the escrow lock was refused" in details_markdown(
        doc, asset="native", now=NOW
    )


@pytest.mark.dev_server
async def test_the_web_ui_reads_a_running_campaigns_details(dev_client: Client) -> None:
    world = make_world(likes=40, earned=400, recipients=40)
    world.definition.asset, world.definition.budget = "USDC", 12_500
    world.definition.poll_interval_seconds = 1
    async with standin_worker(dev_client, world) as worker:
        handle = await start(dev_client, world, worker)
        try:

            async def polled_details() -> str:
                # The query the Web UI sends for a workflow's current details.
                metadata = await handle.query(
                    "__temporal_workflow_metadata", result_type=WorkflowMetadata
                )
                details: str = metadata.current_details
                assert "40 unique engagers" in details, details
                return details

            details: str = await assert_eventually(polled_details, timeout=20)
        finally:
            await handle.terminate("test over")
    first = details.splitlines()[0]
    assert re.fullmatch(
        r"\*\*Running: polling engagement\*\* · closes \d{4}-\d\d-\d\d \d\d:\d\d UTC "
        r"\(in (59 min|1 h)\)",
        first,
    ), first
    assert "- **Budget:** 12,500 USDC · earned 400 USDC (3 %)" in details
    assert "(40 likes, 0 reposts, 0 quotes, 0 replies) · " in details
    assert not RAW.search(details), details


def test_the_readme_shows_what_the_formatter_writes() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("current details\n", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    assert example.rstrip("\n") == details_markdown(running_document(), asset="USDC", now=NOW)
