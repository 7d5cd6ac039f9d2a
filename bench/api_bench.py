"""API latency under load: p50/p99 of ``GET /status``, ``GET /v1/campaigns`` and ``POST
/publish`` at C concurrent clients while N long campaigns are running, plus the worker's RSS.

    .venv/bin/python bench/api_bench.py [--campaigns 1000] [--clients 50] [--requests 1000]

The campaigns are published through the API and last an hour (they stay running); each
endpoint then gets its requests from C clients at once, one endpoint after another (the
publishes go to fresh drafts). Targets p99: 20, 50 and 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from bench_stack import (
    LIKE_RATE,
    Bench,
    add_stack_options,
    bench_stack,
    percentile,
    report,
    worker_counts,
)
from chaos_world import Owner

TARGET_P99_MS = {"GET /status": 20.0, "GET /v1/campaigns": 50.0, "POST /publish": 100.0}
LONG_CAMPAIGN_SECONDS = 3600
LONG_POLL_SECONDS = 600
SETTLE_SECONDS = 900.0


async def running_campaigns(
    bench: Bench, n: int, extra_drafts: int = 0
) -> tuple[Owner, list[str], list[str]]:
    """N long campaigns published and running, and ``extra_drafts`` drafts left to publish."""
    budget = LIKE_RATE * 10
    owner = await bench.owner(funds=budget * (n + extra_drafts) * 2)
    ids = await bench.drafts(
        owner, n + extra_drafts, LONG_CAMPAIGN_SECONDS, LONG_POLL_SECONDS, budget
    )
    running, drafts = ids[:n], ids[n:]
    await asyncio.gather(*(bench.publish(owner, c) for c in running))
    await bench.wait_for_count(("running",), n, SETTLE_SECONDS)
    return owner, running, drafts


async def latencies(
    clients: int, requests: int, send: Callable[[int], Awaitable[httpx.Response]]
) -> tuple[list[float], dict[str, int]]:
    """Milliseconds per request, ``clients`` at a time; and the count of each status code."""
    next_index = iter(range(requests))
    timings: list[float] = []
    codes: dict[str, int] = {}

    async def client() -> None:
        for i in next_index:
            started = time.perf_counter()
            try:
                answer = str((await send(i)).status_code)
            except httpx.HTTPError as error:  # a dropped connection is a figure, not a crash
                answer = type(error).__name__
            timings.append(1000 * (time.perf_counter() - started))
            codes[answer] = codes.get(answer, 0) + 1

    await asyncio.gather(*(client() for _ in range(clients)))
    return timings, codes


async def run(options: argparse.Namespace) -> int:
    [workers] = worker_counts(options.workers)
    n, clients, requests = options.campaigns, options.clients, options.requests
    async with bench_stack(options, workers) as bench:
        owner, running, drafts = await running_campaigns(bench, n, extra_drafts=requests)
        rss_before = bench.worker_rss_mb()
        headers = {"Authorization": f"Bearer {owner.api_key}"}
        base = bench.stack.api_url
        limits = httpx.Limits(max_connections=clients)
        results: dict[str, Any] = {}
        # A fresh client per endpoint: a connection the API closed as idle between phases
        # (uvicorn's keep-alive timeout) would otherwise fail a POST, which is never retried.
        for name in TARGET_P99_MS:
            async with httpx.AsyncClient(
                base_url=base, headers=headers, limits=limits, timeout=60
            ) as http:
                sends: dict[str, Callable[[int], Awaitable[httpx.Response]]] = {
                    "GET /status": lambda i: http.get(f"/v1/campaigns/{running[i % n]}/status"),
                    "GET /v1/campaigns": lambda i: http.get(
                        "/v1/campaigns", params={"page": 1 + i % 5}
                    ),
                    "POST /publish": lambda i: http.post(
                        f"/v1/campaigns/{drafts[i]}/publish", json={}
                    ),
                }
                timings, codes = await latencies(clients, requests, sends[name])
            results[name] = {
                "p50_ms": percentile(timings, 50),
                "p99_ms": percentile(timings, 99),
                "codes": codes,
            }
        rss_after = bench.worker_rss_mb()
    rows = []
    for name, r in results.items():
        target = TARGET_P99_MS[name]
        met = "yes" if r["p99_ms"] <= target else f"no, by {r['p99_ms'] - target:.0f} ms"
        answers = ",".join(f"{k}:{v}" for k, v in sorted(r["codes"].items()))
        rows.append([name, r["p50_ms"], r["p99_ms"], target, met, answers])
    doc = {
        "options": vars(options),
        "endpoints": results,
        "worker_rss_mb_before": rss_before,
        "worker_rss_mb_after": rss_after,
    }
    title = f"api: {clients} clients, {requests} requests each endpoint, {n} campaigns running"
    report(
        title,
        ["endpoint", "p50 ms", "p99 ms", "target p99", "met", "codes"],
        rows,
        options.json,
        doc,
    )
    print(f"worker RSS MB: {', '.join(f'{m:.0f}' for m in rss_after)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--campaigns", type=int, default=1000, help="long campaigns running meanwhile")
    add("--clients", type=int, default=50)
    add("--requests", type=int, default=1000, help="per endpoint")
    add_stack_options(parser, "api-bench.json")
    options = parser.parse_args(argv)
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
