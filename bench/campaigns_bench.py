"""Campaign throughput beside Temporal's raw ceiling, on one dev server in one run.

    .venv/bin/python bench/campaigns_bench.py [--campaigns 500] [--workers 1,2,4]

Publishes N short campaigns at once through the API (60 s, polled every 10 s, 20 engagers
each liking once the first post is up), waits for all to be closed, and counts the campaign
workers' activities from their Prometheus metrics. Then, on the same server, N no-op
workflows run the same number of no-op activities each (bench/noop_worker.py, own task
queue). Prints campaigns and activities per second, the ceiling's, and the ratio; with
``--workers 1,2,4`` a fresh stack per count, so the table shows how throughput scales;
``--code A,B,A,B`` runs those git revisions one after another for a before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from typing import Any

from bench_stack import (
    LIKE_RATE,
    NOOP_TASK_QUEUE,
    Bench,
    add_stack_options,
    bench_stack,
    code_rounds,
    report,
    worker_counts,
)
from bench_workflows import SequentialActivitiesWorkflow

# The SDK names the histogram with or without its unit, depending on the runtime's options.
ACTIVITY_COUNTERS = (
    "temporal_activity_execution_latency_count",
    "temporal_activity_execution_latency_seconds_count",
)
SETTLE_SECONDS = 900.0


async def activities_done(bench: Bench) -> float:
    for name in ACTIVITY_COUNTERS:
        if value := await bench.worker_metric(name):
            return value
    return 0.0


async def campaigns_phase(bench: Bench, options: argparse.Namespace) -> dict[str, Any]:
    n, engagers = options.campaigns, options.engagers
    budget = LIKE_RATE * engagers * 2
    owner = await bench.owner(funds=budget * n * 2)
    tag = uuid.uuid4().int % 10**6
    users = [[f"{tag:06d}{i:05d}{j:03d}" for j in range(engagers)] for i in range(n)]
    await bench.participants([u for group in users for u in group])
    ids = await bench.drafts(owner, n, options.duration, options.poll_interval, budget)
    before = await activities_done(bench)
    started = time.monotonic()

    await asyncio.gather(*(bench.publish(owner, c) for c in ids))
    posts = await bench.first_posts(ids, SETTLE_SECONDS)
    await asyncio.gather(*(bench.engage(posts[c], g) for c, g in zip(ids, users, strict=True)))
    timeout = options.duration + SETTLE_SECONDS
    ended = await bench.wait_for_count(("closed", "cancelled", "failed"), n, timeout)
    elapsed = ended - started
    activities = await activities_done(bench) - before
    closed = await bench.count(("closed",))
    return {
        "campaigns": n,
        "closed": closed,
        "seconds": elapsed,
        "activities": activities,
        "campaigns_per_second": n / elapsed,
        "activities_per_second": activities / elapsed,
    }


async def ceiling_phase(bench: Bench, workflows: int, activities_each: int) -> dict[str, Any]:
    started = time.monotonic()
    handles = await asyncio.gather(
        *(
            bench.client.start_workflow(
                SequentialActivitiesWorkflow.run,
                activities_each,
                id=f"ceiling-{uuid.uuid4()}",
                task_queue=NOOP_TASK_QUEUE,
            )
            for _ in range(workflows)
        )
    )
    await asyncio.gather(*(h.result() for h in handles))
    elapsed = time.monotonic() - started
    return {
        "workflows": workflows,
        "activities_each": activities_each,
        "seconds": elapsed,
        "workflows_per_second": workflows / elapsed,
        "activities_per_second": workflows * activities_each / elapsed,
    }


async def run(options: argparse.Namespace) -> int:
    results = []
    for code in code_rounds(options.code):
        for workers in worker_counts(options.workers):
            stack = bench_stack(options, workers, code_dir=code.code_dir, label=code.label)
            async with stack as bench:
                campaigns = await campaigns_phase(bench, options)
                each = max(1, round(campaigns["activities"] / options.campaigns))
                ceiling = await ceiling_phase(bench, options.campaigns, each)
            ratio = campaigns["activities_per_second"] / ceiling["activities_per_second"]
            results.append(
                {
                    "code": code.name,
                    "workers": workers,
                    "campaigns": campaigns,
                    "ceiling": ceiling,
                    "ratio": ratio,
                }
            )
    rows = [
        [
            r["code"],
            r["workers"],
            f"{r['campaigns']['closed']}/{r['campaigns']['campaigns']}",
            r["campaigns"]["seconds"],
            r["campaigns"]["campaigns_per_second"],
            r["campaigns"]["activities_per_second"],
            r["ceiling"]["workflows_per_second"],
            r["ceiling"]["activities_per_second"],
            f"{100 * r['ratio']:.0f} %",
        ]
        for r in results
    ]
    header = ["code", "workers", "closed", "s", "campaigns/s", "activities/s"]
    header += ["ceiling wf/s", "ceiling act/s", "ratio"]
    title = f"campaigns: {options.campaigns} x {options.duration} s, {options.engagers} engagers"
    report(title, header, rows, options.json, {"options": vars(options), "runs": results})
    failed = [r for r in results if r["campaigns"]["closed"] != r["campaigns"]["campaigns"]]
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--campaigns", type=int, default=500)
    add("--duration", type=int, default=60, help="campaign length, s (the API's minimum: 60)")
    add("--poll-interval", type=int, default=10, help="engagement poll, s (minimum: 10)")
    add("--engagers", type=int, default=20, help="each likes the first post once")
    add("--code", help="git revisions to run, one after another (default: the work tree)")
    add_stack_options(parser, "campaigns-bench.json")
    options = parser.parse_args(argv)
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
