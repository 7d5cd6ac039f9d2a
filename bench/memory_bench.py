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
from bench_stack import add_stack_options, bench_stack, code_rounds, report, worker_counts

TARGET_MB = 300.0


async def run(options: argparse.Namespace) -> int:
    [workers] = worker_counts(options.workers)
    rows, runs = [], []
    for code in code_rounds(options.code):
        async with bench_stack(options, workers, code_dir=code.code_dir, label=code.label) as bench:
            idle = bench.worker_rss_mb()
            await running_campaigns(bench, options.campaigns)
            loaded = bench.worker_rss_mb()
        peak = max(loaded)
        met = "yes" if peak <= TARGET_MB else f"no, by {peak - TARGET_MB:.0f} MB"
        rows += [
            [code.name, f"worker {k + 1}", idle[k], loaded[k], TARGET_MB, met]
            for k in range(len(loaded))
        ]
        runs.append({"code": code.name, "rss_mb_idle": idle, "rss_mb_running": loaded})
    doc = {"options": vars(options), **runs[-1], "runs": runs, "target_mb": TARGET_MB}
    title = f"memory: {options.campaigns} campaigns running"
    header = ["code", "process", "idle MB", "running MB", "target MB", "met"]
    report(title, header, rows, options.json, doc)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--code", help="git revisions to run, one after another")
    add_stack_options(parser, "memory-bench.json")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
