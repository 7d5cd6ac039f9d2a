"""How figures read to people, the same in the CLI and the Temporal Web UI: amounts with their
asset, times in UTC, spans as hours and minutes, progress as "x of y".

Pure functions of their arguments (no clock): the workflow passes ``workflow.now()``, the CLI
the wall clock, so the workflow's details stay deterministic.
"""

from __future__ import annotations

from datetime import UTC, datetime

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def amount(value: int, asset: str) -> str:
    """``12,500 USDC``: an integer in the asset's smallest unit, with the asset's name."""
    return f"{value:,} {asset}"


def utc_time(moment: datetime) -> str:
    """``2026-12-03 14:05 UTC``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def span(seconds: float) -> str:
    """A length of time in its two largest units: ``45 s``, ``12 min``, ``3 h 5 min``,
    ``2 d 4 h``."""
    whole = max(0, round(seconds))
    if whole < MINUTE:
        return f"{whole} s"
    if whole < HOUR:
        return f"{whole // MINUTE} min"
    if whole < DAY:
        hours, minutes = divmod(whole // MINUTE, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(whole // HOUR, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def relative(moment: datetime, now: datetime) -> str:
    """``in 3 h`` or ``3 h ago``."""
    seconds = (moment - now).total_seconds()
    return f"in {span(seconds)}" if seconds >= 0 else f"{span(-seconds)} ago"


def percent(part: int, whole: int) -> str:
    """``40 %`` (whole percents; ``-`` when there is nothing to divide by)."""
    if whole <= 0:
        return "-"
    return f"{part * 100 // whole} %"


def of(part: int, whole: int) -> str:
    """``120 of 300``."""
    return f"{part:,} of {whole:,}"
