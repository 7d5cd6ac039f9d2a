"""The campaign worker's resident memory (VmRSS from /proc) with N campaigns running, beside
what the same number of bare workflows costs the SDK alone in the same run.

    .venv/bin/python bench/memory_bench.py [--campaigns 1000]

Publishes N hour-long campaigns through the API (bench/api_bench.py's setup), waits until all
are running, and reads each worker's RSS; the figure to hold is the largest. Target: 300 MB.
Then starts N bare workflows (no database, no HTTP: bench/bench_workflows.py) on the no-op
worker of the same server, has each run as many no-op activities as gives it the history
length a running campaign has (``--bare-activities``, by default matched to a sample of the
campaigns' histories) and answer a query (so each sits in the sticky cache, as the campaigns
do), and reads that worker's RSS: the floor a cached workflow of that length costs the SDK,
to set against what a cached campaign costs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Sequence

from api_bench import finish, queryable_workflows, running_campaigns
from bench_stack import (
    Bench,
    add_stack_options,
    bench_stack,
    code_rounds,
    report,
    worker_counts,
)
from temporalio.client import Client

from core.contracts import workflow_id_for

TARGET_MB = 300.0
HISTORY_SAMPLE = 50
# A bare workflow's history: started, its first workflow task and the ``ready`` update's
# accepted and completed (6 events), then 6 for each activity (scheduled, started, completed
# and the workflow task that follows): 10 activities made 66 events.
BARE_START_EVENTS = 6
EVENTS_PER_BARE_ACTIVITY = 6


async def mean_history_length(client: Client, workflow_ids: Sequence[str]) -> float:
    """The mean event count of a sample of the runs (a describe each)."""
    sample = workflow_ids[:HISTORY_SAMPLE]
    described = await asyncio.gather(*(client.get_workflow_handle(w).describe() for w in sample))
    return statistics.fmean(d.history_length for d in described)


def activities_for(events: float) -> int:
    """The no-op activities that give a bare workflow about ``events`` events."""
    return max(0, round((events - BARE_START_EVENTS) / EVENTS_PER_BARE_ACTIVITY))


async def bare_workflows_rss(
    bench: Bench, n: int, activities: int
) -> tuple[list[float], list[float], float]:
    """The no-op workers' RSS before and after ``n`` bare workflows of ``activities`` no-op
    activities each are cached there, and their mean history length."""
    idle = bench.noop_worker_rss_mb()
    handles = await queryable_workflows(bench.client, n, activities)
    loaded = bench.noop_worker_rss_mb()
    events = await mean_history_length(bench.client, [h.id for h in handles])
    await finish(handles)
    return idle, loaded, events


def kb_each(idle: list[float], loaded: list[float], n: int) -> float:
    """Resident KB per cached workflow, over every process of the kind."""
    return 1024 * (sum(loaded) - sum(idle)) / max(n, 1)


async def run(options: argparse.Namespace) -> int:
    [workers] = worker_counts(options.workers)
    n = options.campaigns
    rows, runs = [], []
    for code in code_rounds(options.code):
        async with bench_stack(options, workers, code_dir=code.code_dir, label=code.label) as bench:
            idle = bench.worker_rss_mb()
            _, campaign_ids, _ = await running_campaigns(bench, n)
            loaded = bench.worker_rss_mb()
            campaign_events = await mean_history_length(
                bench.client, [workflow_id_for(c) for c in campaign_ids]
            )
            bare_activities = (
                activities_for(campaign_events)
                if options.bare_activities is None
                else options.bare_activities
            )
            floor_idle, floor_loaded, bare_events = await bare_workflows_rss(
                bench, n, bare_activities
            )
        peak = max(loaded)
        met = "yes" if peak <= TARGET_MB else f"no, by {peak - TARGET_MB:.0f} MB"
        campaign_kb = kb_each(idle, loaded, n)
        rows += [
            [
                code.name,
                f"worker {k + 1}",
                idle[k],
                loaded[k],
                campaign_kb,
                campaign_events,
                TARGET_MB,
                met,
            ]
            for k in range(len(loaded))
        ]
        floor_kb = kb_each(floor_idle, floor_loaded, n)
        rows += [
            [
                code.name,
                f"no-op worker {k + 1}",
                floor_idle[k],
                floor_loaded[k],
                floor_kb,
                bare_events,
                "",
                "",
            ]
            for k in range(len(floor_loaded))
        ]
        runs.append(
            {
                "code": code.name,
                "rss_mb_idle": idle,
                "rss_mb_running": loaded,
                "kb_per_cached_campaign": campaign_kb,
                "campaign_history_events": campaign_events,
                "bare_workflows": {
                    "activities_each": bare_activities,
                    "history_events": bare_events,
                    "rss_mb_idle": floor_idle,
                    "rss_mb_running": floor_loaded,
                    "kb_per_cached_workflow": floor_kb,
                },
            }
        )
    doc = {"options": vars(options), **runs[-1], "runs": runs, "target_mb": TARGET_MB}
    title = f"memory: {n} campaigns running; then {n} bare workflows on the no-op worker"
    header = ["code", "process", "idle MB", "running MB", "KB each", "events", "target MB", "met"]
    report(title, header, rows, options.json, doc)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--code", help="git revisions to run, one after another")
    parser.add_argument(
        "--bare-activities",
        type=int,
        help="no-op activities each bare workflow runs before it waits "
        "(default: as many as match the campaigns' mean history length)",
    )
    add_stack_options(parser, "memory-bench.json")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
