"""How fast a long campaign's polling runs under time skipping (stand-in activities).

    .venv/bin/python bench/campaign_polls.py --days 1 --poll-seconds 60

Prints polls and polls per second of wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from core.contracts import SEARCH_ATTRIBUTE_NAMES
from core.devserver import find_binary
from core.temporal import DATA_CONVERTER
from tests.workflows.campaign_stack import outcome
from tests.workflows.standins import make_world, standin_worker, start


async def main(days: float, poll_seconds: int) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=str(find_binary("temporal-test-server")),
    )
    try:
        client = env.client
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={
                    n: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for n in SEARCH_ATTRIBUTE_NAMES
                },
            )
        )
        world = make_world(likes=5, earned=50, recipients=5)
        world.definition.duration_seconds = int(days * 24 * 3600)
        world.definition.poll_interval_seconds = poll_seconds
        began = time.monotonic()
        async with standin_worker(client, world) as worker:
            handle = await start(client, world, worker)
            doc = await outcome(handle)
        elapsed = time.monotonic() - began
        print(f"status={doc.status} polls={doc.engagement.polls} elapsed={elapsed:.1f}s")
        print(f"polls_per_second={doc.engagement.polls / elapsed:.1f}")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--poll-seconds", type=int, default=60)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.days, arguments.poll_seconds))
