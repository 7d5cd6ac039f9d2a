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
import itertools
import sys
import time
import uuid
from datetime import datetime
from typing import Any

from bench_stack import (
    LIKE_RATE,
    NOOP_TASK_QUEUE,
    Bench,
    add_stack_options,
    bench_stack,
    code_rounds,
    cpu_used,
    percentile,
    report,
    worker_counts,
)
from bench_workflows import SequentialActivitiesWorkflow
from chaos_world import Owner, _ok

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
    cpu_before = bench.cpu_seconds()
    started = time.monotonic()

    await asyncio.gather(*(bench.publish(owner, c) for c in ids))
    posts = await bench.first_posts(ids, SETTLE_SECONDS)
    await asyncio.gather(*(bench.engage(posts[c], g) for c, g in zip(ids, users, strict=True)))
    timeout = options.duration + SETTLE_SECONDS
    ended = await bench.wait_for_count(("closed", "cancelled", "failed"), n, timeout)
    elapsed = ended - started
    cpu = cpu_used(cpu_before, bench.cpu_seconds())
    activities = await activities_done(bench) - before
    closed = await bench.count(("closed",))
    phases = await timeline_phases(bench, owner, ids, started)
    return {
        "phases": phases,
        "cpu_seconds": cpu,
        "campaigns": n,
        "closed": closed,
        "seconds": elapsed,
        "activities": activities,
        "campaigns_per_second": n / elapsed,
        "activities_per_second": activities / elapsed,
    }


def spread(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values)}


async def timeline_phases(
    bench: Bench, owner: Owner, ids: list[str], started: float
) -> dict[str, Any]:
    """Per campaign, from its timeline (the database, no Temporal): when each status began,
    in seconds after the first publish, and the p50/p99/max of each step's length."""
    wall_started = time.time() - (time.monotonic() - started)
    steps: dict[str, list[float]] = {}
    firsts: dict[str, list[float]] = {}
    for campaign_id in ids:
        path = f"/v1/campaigns/{campaign_id}/timeline"
        events = _ok(await bench.api.api("GET", path, owner.api_key), "timeline")["events"]
        began: dict[str, float] = {}
        for event in events:
            at = datetime.fromisoformat(event["at"]).timestamp() - wall_started
            began.setdefault(event["status"], at)
        for status, at in began.items():
            firsts.setdefault(status, []).append(at)
        order = sorted(began.items(), key=lambda item: item[1])
        for (status, at), (_, after) in itertools.pairwise(order):
            steps.setdefault(status, []).append(after - at)
    return {
        "began_s": {status: spread(v) for status, v in firsts.items()},
        "lasted_s": {status: spread(v) for status, v in steps.items()},
    }


async def ceiling_phase(bench: Bench, workflows: int, activities_each: int) -> dict[str, Any]:
    cpu_before = bench.cpu_seconds()
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
        "cpu_seconds": cpu_used(cpu_before, bench.cpu_seconds()),
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
                    "cpu_ms_per_activity": {
                        "campaigns": cpu_ms_per_activity(campaigns, campaigns["activities"]),
                        "ceiling": cpu_ms_per_activity(
                            ceiling, ceiling["workflows"] * ceiling["activities_each"]
                        ),
                    },
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
    for r in results:
        print_where_the_time_went(r)
    failed = [r for r in results if r["campaigns"]["closed"] != r["campaigns"]["campaigns"]]
    return 1 if failed else 0


def print_where_the_time_went(result: dict[str, Any]) -> None:
    campaigns, ceiling = result["campaigns"], result["ceiling"]
    print(f"{result['code']}, {result['workers']} worker(s): each status lasted (s, p50/p99)")
    for status, lasted in campaigns["phases"]["lasted_s"].items():
        print(f"  {status:<13} {lasted['p50']:7.2f} {lasted['p99']:7.2f}")
    for phase in (campaigns, ceiling):
        name = "campaigns" if phase is campaigns else "ceiling"
        used = ", ".join(f"{part} {s:.1f}" for part, s in phase["cpu_seconds"].items() if s)
        print(f"  CPU seconds, {name} ({phase['seconds']:.1f} s): {used}")
    ms = result["cpu_ms_per_activity"]
    print(
        f"  CPU per activity, every part together: campaigns {ms['campaigns']:.1f} ms, "
        f"ceiling {ms['ceiling']:.1f} ms; on a machine whose cores are all busy the ratio "
        f"cannot pass {100 * ms['ceiling'] / ms['campaigns']:.0f} %"
    )


def cpu_ms_per_activity(phase: dict[str, Any], activities: float) -> float:
    used: dict[str, float] = phase["cpu_seconds"]
    return 1000 * sum(used.values()) / max(activities, 1)


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
