"""Close lateness of campaigns beside the fired skew of bare timers, on one dev server.

    .venv/bin/python bench/timers_bench.py [--campaigns 200] [--timers 200]

First N bare timers (bench/bench_workflows.py's BareTimerWorkflow on the no-op worker's task
queue) sleep until one instant a few seconds ahead; each reports how late it woke. Then M
campaigns are published through the API with one ``start_at``, so they all run and close
together; a campaign's lateness is the time of its timeline's move out of ``running`` minus
its ``closes_at`` (both the workflow's clock). Prints p50 and p99 of both and the target
(raw skew + 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench_stack import (
    LIKE_RATE,
    NOOP_TASK_QUEUE,
    Bench,
    add_stack_options,
    bench_stack,
    percentile,
    report,
    worker_counts,
)
from bench_workflows import BareTimerWorkflow
from chaos_world import _ok

TARGET_MARGIN_SECONDS = 0.1
TIMER_LEAD_SECONDS = 10.0
SETTLE_SECONDS = 600.0


async def bare_timer_skews(bench: Bench, timers: int) -> list[float]:
    fire_at = (datetime.now(UTC) + timedelta(seconds=TIMER_LEAD_SECONDS)).isoformat()
    handles = await asyncio.gather(
        *(
            bench.client.start_workflow(
                BareTimerWorkflow.run,
                fire_at,
                id=f"timer-{uuid.uuid4()}",
                task_queue=NOOP_TASK_QUEUE,
            )
            for _ in range(timers)
        )
    )
    return [float(s) for s in await asyncio.gather(*(h.result() for h in handles))]


async def close_lateness(bench: Bench, options: argparse.Namespace) -> list[float]:
    n = options.campaigns
    owner = await bench.owner(funds=LIKE_RATE * 10 * n * 2)
    ids = await bench.drafts(owner, n, options.duration, options.poll_interval, LIKE_RATE * 10)
    start_at = datetime.now(UTC) + timedelta(seconds=options.publish_lead)
    await asyncio.gather(*(bench.publish(owner, c, start_at.isoformat()) for c in ids))
    if datetime.now(UTC) >= start_at:
        raise SystemExit(f"publishing took longer than --publish-lead {options.publish_lead} s")
    timeout = options.publish_lead + options.duration + SETTLE_SECONDS
    await bench.wait_for_count(("closed", "cancelled", "failed"), n, timeout)

    async def lateness(campaign_id: str) -> float:
        doc = await bench.status(owner, campaign_id)
        path = f"/v1/campaigns/{campaign_id}/timeline"
        events = _ok(await bench.api.api("GET", path, owner.api_key), "timeline")["events"]
        left = next(
            e for e in events if e["status"] not in ("draft", "scheduled", "publishing", "running")
        )
        closes_at = datetime.fromisoformat(doc["closes_at"])
        return (datetime.fromisoformat(left["at"]) - closes_at).total_seconds()

    return list(await asyncio.gather(*(lateness(c) for c in ids)))


async def run(options: argparse.Namespace) -> int:
    [workers] = worker_counts(options.workers)
    async with bench_stack(options, workers) as bench:
        skews = await bare_timer_skews(bench, options.timers)
        late = await close_lateness(bench, options)
    doc: dict[str, Any] = {
        "options": vars(options),
        "bare_timer_skew_s": skews,
        "close_lateness_s": late,
    }
    rows = []
    for p in (50, 99):
        raw, campaign = percentile(skews, p), percentile(late, p)
        target = raw + TARGET_MARGIN_SECONDS
        doc[f"p{p}"] = {"bare_timer_s": raw, "campaign_s": campaign, "target_s": target}
        met = "yes" if campaign <= target else f"no, by {1000 * (campaign - target):.0f} ms"
        rows.append([f"p{p}", 1000 * raw, 1000 * campaign, 1000 * target, met])
    title = f"timers: {options.timers} bare timers, {options.campaigns} campaigns closing together"
    report(
        title,
        ["", "bare timer ms", "campaign close ms", "target ms", "met"],
        rows,
        options.json,
        doc,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--campaigns", type=int, default=200)
    add("--timers", type=int, default=200)
    add("--duration", type=int, default=60, help="campaign length, s (the API's minimum: 60)")
    add("--poll-interval", type=int, default=60, help="engagement poll, s (minimum: 10)")
    add("--publish-lead", type=float, default=60.0, help="start_at this far ahead, s")
    add_stack_options(parser, "timers-bench.json")
    options = parser.parse_args(argv)
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
