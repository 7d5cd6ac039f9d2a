"""How fast is Temporal's dev server locally, with and without DEV_SERVER_FAST_ARGS?

    .venv/bin/python bench/devserver_throughput.py [--activities 200] [--workflows 20]

Starts the dev server from the installed `temporal` binary for each variant, persisting to a
SQLite file as `campaigns dev` does, and prints sequential no-op activities per second and a
no-op workflow's start-to-finish milliseconds (median).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence

from devserver_workflows import NoOpWorkflow, SequentialActivitiesWorkflow, do_nothing
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.devserver import DEV_SERVER_FAST_ARGS, find_binary


async def measure(
    extra_args: Sequence[str], activities: int, workflows: int, state_dir: str
) -> tuple[float, float]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_binary("temporal")),
        dev_server_extra_args=[
            "--db-filename",
            os.path.join(state_dir, f"temporal-{uuid.uuid4().hex[:8]}.db"),
            *extra_args,
        ],
    )
    try:
        client = env.client
        task_queue = f"bench-{uuid.uuid4()}"
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[SequentialActivitiesWorkflow, NoOpWorkflow],
            activities=[do_nothing],
        ):
            # One warm-up of each so first-use costs do not count.
            await client.execute_workflow(
                SequentialActivitiesWorkflow.run,
                3,
                id=f"warm-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            started = time.perf_counter()
            await client.execute_workflow(
                SequentialActivitiesWorkflow.run,
                activities,
                id=f"seq-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            activities_per_second = activities / (time.perf_counter() - started)
            durations = []
            for _ in range(workflows):
                started = time.perf_counter()
                await client.execute_workflow(
                    NoOpWorkflow.run, id=f"noop-{uuid.uuid4()}", task_queue=task_queue
                )
                durations.append((time.perf_counter() - started) * 1000)
        return activities_per_second, statistics.median(durations)
    finally:
        await env.shutdown()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--activities", type=int, default=200)
    parser.add_argument("--workflows", type=int, default=20)
    options = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as state_dir:
        for label, extra_args in (
            ("defaults", ()),
            ("DEV_SERVER_FAST_ARGS", DEV_SERVER_FAST_ARGS),
        ):
            rate, workflow_ms = await measure(
                extra_args, options.activities, options.workflows, state_dir
            )
            results.append(f"{label:<24}{rate:>14.1f}{workflow_ms:>30.1f}")
    # Printed together at the end: the dev server writes its own banner to the same terminal.
    print(
        f"{'dev server flags':<24}{'activities/s':>14}{'no-op workflow ms (median)':>30}"
        f"   ({options.activities} sequential activities, {options.workflows} workflows)"
    )
    print("\n".join(results))


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    # The SDK's native runtime can abort during interpreter finalization after a dev server
    # shutdown (a known SDK exit-time issue); the figures are printed, so leave at once.
    os._exit(0)
