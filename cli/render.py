"""How the CLI shows campaigns: rich tables for people, a live progress view for ``watch``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.constrain import Constrain
from rich.live import Live
from rich.measure import Measurement
from rich.progress import Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.segment import Segment
from rich.style import Style
from rich.table import Column, Table

from core import display

# Below this many columns the list drops its lesser columns (campaign IDs are 32 characters).
WIDE = 150
ID_WIDTH = 32
MIN_BAR_WIDTH = 10
WATCH_WIDTH = 100

STATUS_STYLES = {
    "draft": "dim",
    "scheduled": "cyan",
    "publishing": "cyan",
    "running": "green",
    "paused": "yellow",
    "closing": "blue",
    "distributing": "blue",
    "closed": "bold green",
    "cancelled": "magenta",
    "failed": "bold red",
}


def styled(status: str) -> str:
    style = STATUS_STYLES.get(status, "")
    return f"[{style}]{status}[/]" if style else status


def campaigns_table(page: dict[str, Any], width: int = WIDE) -> Table:
    """One row per campaign. IDs are never cut: below ``WIDE`` columns the type joins the name
    and owner and creation time are left to ``show`` and ``--json``."""
    shown = len(page["items"])
    first = (page["page"] - 1) * page["page_size"] + 1 if shown else 0
    narrow = width < WIDE
    table = Table(
        title=f"campaigns {first}-{first + shown - 1 if shown else 0} of {page['total']}",
        title_justify="left",
        box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD,
        caption="owner and created: campaigns show ID, or --json" if narrow and shown else None,
        caption_justify="left",
    )
    table.add_column("id", no_wrap=True, min_width=ID_WIDTH)
    table.add_column("name (type)" if narrow else "name", ratio=1, overflow="fold")
    if not narrow:
        table.add_column("type", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("budget", justify="right", no_wrap=True)
    if not narrow:
        table.add_column("owner", no_wrap=True, min_width=ID_WIDTH)
        table.add_column("created", no_wrap=True)
    for item in page["items"]:
        budget = f"{item['budget']:,}"
        if narrow:
            name = f"{item['name']} [dim]({item['type']})[/]"
            table.add_row(item["id"], name, styled(item["status"]), budget)
            continue
        created = item["created_at"][:19].replace("T", " ")
        row = (item["id"], item["name"], item["type"], styled(item["status"]), budget)
        table.add_row(*row, item["owner_id"], created)
    return table


def _shown(name: str, value: Any) -> str:
    """A figure as people read it: thousands separated, times in UTC, nothing as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if name.endswith(("_at", "since")) and isinstance(value, str):
        try:
            return display.utc_time(datetime.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def _section(table: Table, title: str, values: dict[str, Any]) -> None:
    table.add_row(f"[bold]{title}[/]", "")
    for name, value in values.items():
        table.add_row(f"  {name}", _shown(name, value))


def status_table(document: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None, title=f"campaign {document['campaign_id']}")
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row(
        "status", styled(document["status"]) + (" (paused)" if document["paused"] else "")
    )
    for name in ("workflow_id", "published_at", "closes_at", "closed_at", "failure"):
        if document.get(name) is not None:
            table.add_row(name, _shown(name, document[name]))
    attention = document.get("attention")
    if attention:
        since = _shown("since", attention["since"])
        table.add_row("attention", f"{attention['step']}: {attention['reason']} (since {since})")
    for step in document.get("retrying") or []:
        since = _shown("since", step.get("since"))
        reason = step.get("reason") or "no reason given"
        table.add_row(
            "retrying", f"{step['step']}, attempt {step['attempt']} since {since}: {reason}"
        )
    for section in ("posts", "escrow", "engagement", "rewards", "budget"):
        _section(table, section, document.get(section) or {})
    return table


def campaign_table(record: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None, title=f"{record['name']} ({record['id']})")
    table.add_column(style="dim")
    table.add_column()
    for name in ("type", "asset", "budget", "owner_id", "workflow_id", "run_id", "created_at"):
        value = record.get(name)
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value or "-"))
    table.add_row("status", styled(record["live"]["status"]))
    terms = record.get("rewards") or record.get("quest") or {}
    table.add_row("terms", ", ".join(f"{k}={v}" for k, v in terms.items()))
    table.add_row(
        "duration",
        f"{record['duration_seconds']} s, poll every {record['poll_interval_seconds']} s",
    )
    table.add_row("first post", record["first_post"]["text"])
    return table


class Track:
    """A progress bar whose unfilled part is drawn too (``━━━━──────``), so progress shows
    without colour (``NO_COLOR``, a dumb terminal) where rich's own bar draws only the done
    part. It takes the width its column gives it."""

    def __init__(self, completed: float, total: float) -> None:
        self.ratio = min(max(completed / total, 0.0), 1.0) if total > 0 else 0.0

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(MIN_BAR_WIDTH, options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        done = round(width * self.ratio)
        utf = console.encoding.lower().startswith("utf")
        yield Segment(("━" if utf else "#") * done, Style(color="green"))
        yield Segment(("─" if utf else "-") * (width - done), Style(dim=True))


class TrackColumn(ProgressColumn):
    def render(self, task: Task) -> Track:
        return Track(task.completed, task.total or 0)


class WatchView:
    """Time, budget and payouts of one campaign as progress bars, redrawn per document.

    The bars take what the terminal leaves after the figures (never less than
    ``MIN_BAR_WIDTH``), and the notes go on lines of their own, so 80 columns show it whole.
    """

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}", table_column=Column(width=8, no_wrap=True)),
            TrackColumn(table_column=Column(ratio=1, min_width=MIN_BAR_WIDTH)),
            TextColumn("{task.fields[figures]}", table_column=Column(no_wrap=True)),
            expand=True,
        )
        self._tasks: dict[str, TaskID] = {}
        for name in ("time", "budget", "payouts"):
            self._tasks[name] = self.progress.add_task(name, total=1, figures="")
        self.headline = ""
        self.notes: list[str] = []

    def update(self, document: dict[str, Any]) -> None:
        status = document["status"] + (" (paused)" if document["paused"] else "")
        engagement = document["engagement"]
        rewards = document["rewards"]
        budget = document["budget"]
        closes = document.get("closes_at")
        ends = display.utc_time(datetime.fromisoformat(closes)) if closes else "-"
        self.headline = f"{document['campaign_id']}  {styled(status)}  closes {ends}"
        self.progress.update(
            self._tasks["budget"],
            total=max(budget["total"], 1),
            completed=rewards["earned"],
            figures=f"{display.of(rewards['earned'], budget['total'])} earned",
        )
        self.progress.update(
            self._tasks["payouts"],
            total=max(rewards["recipients"], 1),
            completed=rewards["paid"],
            figures=f"{display.of(rewards['paid'], rewards['recipients'])} paid",
        )
        elapsed, duration = _elapsed(document)
        self.progress.update(
            self._tasks["time"],
            total=max(duration, 1),
            completed=min(elapsed, duration),
            figures=f"{display.span(min(elapsed, duration))} of {display.span(duration)}",
        )
        kinds = ("likes", "reposts", "quotes", "replies")
        self.notes = [
            f"engagers {engagement['unique_engagers']:,}: "
            + ", ".join(f"{kind} {engagement[kind]:,}" for kind in kinds)
            + f"; polls {engagement['polls']}",
            f"paid {rewards['paid_amount']:,}, refunded {budget['refunded']:,}; "
            f"failed {rewards['failed']}, ineligible {rewards['ineligible']}",
        ]

    def renderable(self) -> Constrain:
        # Bars as long as 80 columns allow, not as wide as a wide terminal is.
        return Constrain(Group(self.headline, self.progress, *self.notes), width=WATCH_WIDTH)


def draw_live(documents: Iterable[dict[str, Any]], console: Console) -> dict[str, Any] | None:
    """Redraw the watch view for each status document; returns the last one. Nothing is drawn
    before the first arrives, so a stream that cannot open prints only its reason."""
    view = WatchView()
    last: dict[str, Any] | None = None
    with contextlib.ExitStack() as drawing:
        live: Live | None = None
        for document in documents:
            last = document
            view.update(document)
            if live is None:
                live = Live(view.renderable(), console=console, refresh_per_second=4)
                drawing.enter_context(live)
            else:
                live.update(view.renderable())
    return last


def _elapsed(document: dict[str, Any]) -> tuple[float, float]:
    """Seconds since publishing and the campaign's length (0, 0 before it is published)."""
    published, closes = document.get("published_at"), document.get("closes_at")
    if not published or not closes:
        return 0.0, 0.0
    start, end = datetime.fromisoformat(published), datetime.fromisoformat(closes)
    until = datetime.fromisoformat(document["closed_at"]) if document.get("closed_at") else None
    now = until or datetime.now(UTC)
    return (now - start).total_seconds(), (end - start).total_seconds()
