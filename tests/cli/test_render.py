"""The renderers on their own, at widths an operator has: IDs whole against hostile contents
(a name with no spaces, the largest budget), what needs a person shown, times in UTC."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from rich.console import Console

from cli.render import MIN_BAR_WIDTH, WATCH_WIDTH, WatchView, campaigns_table, status_table
from core.campaign_spec import MAX_AMOUNT


def drawn(renderable: Any, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    console.print(renderable)
    return [line.rstrip() for line in console.export_text().splitlines()]


def item(**changes: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "name": "Launch",
        "type": "awareness",
        "status": "distributing",
        "budget": 1_000,
        "owner_id": uuid.uuid4().hex,
        "created_at": "2026-12-03T16:00:00.123456+00:00",
        **changes,
    }


@pytest.mark.parametrize("width", [80, 100, 150, 200])
def test_ids_stay_whole_whatever_the_names_and_budgets(width: int) -> None:
    items = [item(name="x" * 300, budget=MAX_AMOUNT), item(name="Launch week " * 20)]
    page = {"items": items, "page": 1, "page_size": 20, "total": 2}
    lines = drawn(campaigns_table(page, width), width)
    assert max(len(line) for line in lines) <= width
    assert "…" not in "\n".join(lines)
    for listed in items:
        assert any(listed["id"] in line for line in lines), lines
        if width >= 150:
            assert any(listed["owner_id"] in line for line in lines), lines


def test_status_shows_what_needs_a_person_and_times_in_utc() -> None:
    document: dict[str, Any] = {
        "campaign_id": "c" * 32,
        "workflow_id": "campaign-" + "c" * 32,
        "status": "attention",
        "paused": False,
        "published_at": "2026-12-03T16:00:00.5+00:00",
        "closes_at": "2026-12-03T17:00:00Z",
        "attention": {"step": "poll", "reason": "X refused (401)", "since": "2026-12-03T16:10Z"},
        "retrying": [{"step": "lock_escrow", "attempt": 3, "since": None, "reason": None}],
        "engagement": {"last_polled_at": "2026-12-03T16:09:59+00:00", "likes": 1_200},
    }
    text = "\n".join(drawn(status_table(document), 80))
    assert re.search(r"published_at +2026-12-03 16:00 UTC\n", text), text
    assert "poll: X refused (401) (since 2026-12-03 16:10 UTC)" in text
    assert "lock_escrow, attempt 3 since -: no reason given" in text
    assert re.search(r"last_polled_at +2026-12-03 16:09 UTC\n", text), text
    assert "1,200" in text


@pytest.mark.parametrize("width", [80, 200])
def test_watch_bars_fill_a_narrow_terminal_and_stop_at_a_wide_one(width: int) -> None:
    view = WatchView()
    view.update(
        {
            "campaign_id": "c" * 32,
            "status": "running",
            "paused": False,
            "published_at": "2026-12-03T16:00:00+00:00",
            "closes_at": "2026-12-03T17:00:00+00:00",
            "closed_at": "2026-12-03T16:30:00+00:00",
            "engagement": {k: 1 for k in ("likes", "reposts", "quotes", "replies", "polls")}
            | {"unique_engagers": 4},
            "rewards": {"earned": 400, "paid": 0, "recipients": 0, "paid_amount": 0}
            | {"failed": 0, "ineligible": 0},
            "budget": {"total": MAX_AMOUNT, "refunded": 0},
        }
    )
    lines = drawn(view.renderable(), width)
    assert max(len(line) for line in lines) <= min(width, WATCH_WIDTH)
    bars = {line.split()[0]: line for line in lines if line.split()[0] in ("time", "budget")}
    assert "30 min of 1 h" in bars["time"]
    assert f"400 of {MAX_AMOUNT:,} earned" in bars["budget"]
    # The track shows without colour: done and to-do parts both drawn.
    for line in bars.values():
        assert re.search(f"[━─]{{{MIN_BAR_WIDTH},}}", line), line
    assert "━" in bars["time"] and "─" in bars["time"] and "─" in bars["budget"]
