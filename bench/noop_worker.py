"""A bench worker process: the raw ceiling's no-op workflows and activity on its own task
queue against the bench's dev server (started by bench/bench_stack.py beside the campaign
workers, so both run on the same server in the same run).

    python bench/noop_worker.py --address 127.0.0.1:7233 --task-queue bench-noop
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from bench_workflows import (
    BareTimerWorkflow,
    NoOpWorkflow,
    QueryableWorkflow,
    SequentialActivitiesWorkflow,
    do_nothing,
)
from temporalio.client import Client
from temporalio.worker import Worker


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[
            SequentialActivitiesWorkflow,
            NoOpWorkflow,
            BareTimerWorkflow,
            QueryableWorkflow,
        ],
        activities=[do_nothing],
    ):
        print(f"noop worker polling {task_queue}", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    options = parser.parse_args()
    asyncio.run(serve(options.address, options.task_queue))


if __name__ == "__main__":
    main()
