"""The campaign worker's resident memory (VmRSS from /proc) with N campaigns running.

    .venv/bin/python bench/memory_bench.py [--campaigns 1000]

Publishes N hour-long campaigns through the API (bench/api_bench.py's setup), waits until all
are running, and reads each worker's RSS; the figure to hold is the largest. Target: 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from api_bench import running_campaigns
from bench_stack import add_stack_options, bench_stack, report, worker_counts

TARGET_MB = 300.0


async def run(options: argparse.Namespace) -> int:
    [workers] = worker_counts(options.workers)
    async with bench_stack(options, workers) as bench:
        idle = bench.worker_rss_mb()
        await running_campaigns(bench, options.campaigns)
        loaded = bench.worker_rss_mb()
    peak = max(loaded)
    met = "yes" if peak <= TARGET_MB else f"no, by {peak - TARGET_MB:.0f} MB"
    rows = [[f"worker {k + 1}", idle[k], loaded[k], TARGET_MB, met] for k in range(len(loaded))]
    doc = {
        "options": vars(options),
        "rss_mb_idle": idle,
        "rss_mb_running": loaded,
        "target_mb": TARGET_MB,
    }
    title = f"memory: {options.campaigns} campaigns running"
    report(title, ["process", "idle MB", "running MB", "target MB", "met"], rows, options.json, doc)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=1000)
    add_stack_options(parser, "memory-bench.json")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
