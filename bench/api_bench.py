"""API latency under load: p50/p99 of ``GET /status``, ``GET /v1/campaigns`` and ``POST
/publish`` at C concurrent clients while N long campaigns are running, plus the worker's RSS.

    .venv/bin/python bench/api_bench.py [--campaigns 1000] [--clients 50] [--requests 1000]

The campaigns are published through the API and last an hour (they stay running); each
endpoint then gets its requests from C clients at once, one endpoint after another (the
publishes go to fresh drafts). Targets p99: 20, 50 and 100 ms. Beside each route, in the same
run at the same concurrency, the Temporal calls it makes, made directly of bare workflows on
the no-op worker (``BARE_CALLS``): each client waits for its answer before it asks again, so
p50 is about clients / throughput, and no route can answer faster than Temporal alone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
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
from bench_workflows import NoOpWorkflow, QueryableWorkflow
from chaos_world import Owner
from temporalio.client import Client, RPCError, WorkflowHandle

TARGET_P99_MS = {"GET /status": 20.0, "GET /v1/campaigns": 50.0, "POST /publish": 100.0}
# What each route asks of Temporal, timed alone beside it (the list reads only the database).
BARE_CALLS = {
    "GET /status": "query status + describe of a bare waiting workflow",
    "POST /publish": "start a bare no-op workflow",
}
QUERYABLE_WORKFLOWS = 200
CONCURRENT_CALLS = 50
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
    clients: int, requests: int, send: Callable[[int], Awaitable[str]]
) -> dict[str, Any]:
    """``requests`` calls, ``clients`` at a time (each client one call after another): p50 and
    p99 in milliseconds, calls a second, and the count of each answer (``send`` names it)."""
    next_index = iter(range(requests))
    timings: list[float] = []
    codes: dict[str, int] = {}

    async def client() -> None:
        for i in next_index:
            started = time.perf_counter()
            try:
                answer = await send(i)
            except (httpx.HTTPError, RPCError) as error:  # a failed call is a figure
                answer = type(error).__name__
            timings.append(1000 * (time.perf_counter() - started))
            codes[answer] = codes.get(answer, 0) + 1

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - began
    return {
        "p50_ms": percentile(timings, 50),
        "p99_ms": percentile(timings, 99),
        "per_second": len(timings) / seconds,
        "codes": codes,
    }


async def api_figures(
    bench: Bench, owner: Owner, running: list[str], drafts: list[str], options: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    clients, requests, n = options.clients, options.requests, len(running)
    headers = {"Authorization": f"Bearer {owner.api_key}"}
    limits = httpx.Limits(max_connections=clients)
    results = {}
    # A fresh client per endpoint: a connection the API closed as idle between phases
    # (uvicorn's keep-alive timeout) would otherwise fail a POST, which is never retried.
    for name in TARGET_P99_MS:
        async with httpx.AsyncClient(
            base_url=bench.stack.api_url, headers=headers, limits=limits, timeout=60
        ) as http:
            requests_of: dict[str, Callable[[int], Awaitable[httpx.Response]]] = {
                "GET /status": lambda i: http.get(f"/v1/campaigns/{running[i % n]}/status"),
                "GET /v1/campaigns": lambda i: http.get(
                    "/v1/campaigns", params={"page": 1 + i % 5}
                ),
                "POST /publish": lambda i: http.post(f"/v1/campaigns/{drafts[i]}/publish", json={}),
            }

            async def send(
                i: int, request: Callable[[int], Awaitable[httpx.Response]] = requests_of[name]
            ) -> str:
                return str((await request(i)).status_code)

            results[name] = await latencies(clients, requests, send)
    return results


Queryable = WorkflowHandle[QueryableWorkflow, None]


async def queryable_workflows(client: Client, n: int, activities: int = 0) -> list[Queryable]:
    """``n`` bare workflows on the no-op worker, each of which has run ``activities`` no-op
    activities and answered a query: each sits in that worker's sticky cache, as a running
    campaign does. At most ``CONCURRENT_CALLS`` calls in flight, far below the server's
    ~1,200 open polls."""
    gate = asyncio.Semaphore(CONCURRENT_CALLS)

    async def started_and_queried() -> Queryable:
        async with gate:
            handle = await client.start_workflow(
                QueryableWorkflow.run,
                activities,
                id=f"queryable-{uuid.uuid4()}",
                task_queue=NOOP_TASK_QUEUE,
            )
            if activities:
                await handle.execute_update(QueryableWorkflow.ready)
            await handle.query(QueryableWorkflow.status)
            return handle

    return await asyncio.gather(*(started_and_queried() for _ in range(n)))


async def finish(handles: list[Queryable]) -> None:
    gate = asyncio.Semaphore(CONCURRENT_CALLS)

    async def finished(handle: Queryable) -> None:
        async with gate:
            await handle.signal(QueryableWorkflow.finish)

    await asyncio.gather(*(finished(h) for h in handles))


async def temporal_figures(bench: Bench, options: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """What the routes ask of Temporal, asked directly of bare workflows on the no-op worker at
    the same concurrency: the ceiling the API's figures stand on."""
    clients, requests = options.clients, options.requests
    client = bench.client
    # Each answers once before the timing starts: a query sent before a workflow's first task
    # has run waits for it, which the campaigns (long running by then) never do.
    queried = await queryable_workflows(client, min(requests, QUERYABLE_WORKFLOWS))

    async def query_and_describe(i: int) -> str:
        handle = queried[i % len(queried)]
        await asyncio.gather(handle.query(QueryableWorkflow.status), handle.describe())
        return "ok"

    async def start(i: int) -> str:
        await client.start_workflow(
            NoOpWorkflow.run, id=f"noop-start-{uuid.uuid4()}", task_queue=NOOP_TASK_QUEUE
        )
        return "ok"

    try:
        return {
            "GET /status": await latencies(clients, requests, query_and_describe),
            "POST /publish": await latencies(clients, requests, start),
        }
    finally:
        await finish(queried)


async def run(options: argparse.Namespace) -> int:
    [workers] = worker_counts(options.workers)
    n, clients, requests = options.campaigns, options.clients, options.requests
    async with bench_stack(options, workers) as bench:
        owner, running, drafts = await running_campaigns(bench, n, extra_drafts=requests)
        rss_before = bench.worker_rss_mb()
        results = await api_figures(bench, owner, running, drafts, options)
        bare = await temporal_figures(bench, options)
        rss_after = bench.worker_rss_mb()
    rows = []
    for name, r in results.items():
        target = TARGET_P99_MS[name]
        met = "yes" if r["p99_ms"] <= target else f"no, by {r['p99_ms'] - target:.0f} ms"
        answers = ",".join(f"{k}:{v}" for k, v in sorted(r["codes"].items()))
        raw = bare.get(name)
        raw_cells = [raw["p50_ms"], raw["p99_ms"], raw["per_second"]] if raw else ["-", "-", "-"]
        figures = [r["p50_ms"], r["p99_ms"], r["per_second"], *raw_cells]
        rows.append([name, *figures, target, met, answers])
    doc = {
        "options": vars(options),
        "endpoints": results,
        "temporal_alone": {BARE_CALLS[name]: figures for name, figures in bare.items()},
        "worker_rss_mb_before": rss_before,
        "worker_rss_mb_after": rss_after,
    }
    title = f"api: {clients} clients, {requests} requests each endpoint, {n} campaigns running"
    report(
        title,
        [
            "endpoint",
            "p50 ms",
            "p99 ms",
            "per s",
            "Temporal alone p50",
            "p99",
            "per s",
            "target p99",
            "met",
            "codes",
        ],
        rows,
        options.json,
        doc,
    )
    for name, call in BARE_CALLS.items():
        print(f"Temporal alone for {name}: {call}")
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
