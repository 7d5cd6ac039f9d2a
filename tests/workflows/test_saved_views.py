"""The README's saved-view queries, read from the README itself, find the campaigns they name
on a dev server (real visibility, the campaign search attributes), through the client and
through the `temporal` CLI the README tells operators to use."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from core.devserver import find_binary
from tests.helpers import assert_eventually
from tests.workflows.standins import (
    StandInWorld,
    make_world,
    standin_worker,
    start,
    wait_for_status,
)

pytestmark = pytest.mark.dev_server

README = Path(__file__).resolve().parents[2] / "README.md"
VIEW_ROW = re.compile(r"^\| ([^|`]+?) \| `([^`]+)` \|$", re.MULTILINE)
OWNER_PLACEHOLDER = "<owner id>"


def saved_views() -> dict[str, str]:
    section = README.read_text().split("### Operators and the Temporal Web UI\n", 1)[1]
    table = section.split("| saved view | query |", 1)[1].split("\n\n", 1)[0]
    return {name: query for name, query in VIEW_ROW.findall(table)}


def test_the_readme_has_the_views_operators_need() -> None:
    assert list(saved_views()) == [
        "running",
        "needing attention",
        "failed",
        "one owner's live campaigns",
        "one owner's campaigns",
    ]


@asynccontextmanager
async def campaign(client: Client, world: StandInWorld, status: str) -> AsyncIterator[str]:
    async with standin_worker(client, world) as worker:
        handle: WorkflowHandle[Any, Any] = await start(client, world, worker)
        try:
            await wait_for_status(handle, status)
            yield handle.id
        finally:
            if status != "failed":
                await handle.terminate("test over")


async def temporal_cli_list(env: WorkflowEnvironment, query: str) -> set[str]:
    target = env.client.service_client.config.target_host
    process = await asyncio.create_subprocess_exec(
        str(find_binary("temporal")),
        "workflow",
        "list",
        "--address",
        target,
        "--namespace",
        env.client.namespace,
        "--query",
        query,
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    listed = json.loads(out or b"[]")
    return {w["execution"]["workflowId"] for w in listed}


async def test_each_readme_query_finds_its_campaigns(
    dev_env: WorkflowEnvironment, dev_client: Client
) -> None:
    owner = f"owner-{uuid.uuid4().hex[:8]}"
    worlds = {
        "running": make_world(likes=1, earned=10, recipients=1),
        "attention": make_world(poll_error="ReadRefused"),
        "failed": make_world(fail_step="second_post"),
    }
    for world in worlds.values():
        world.definition.owner_id = owner
        world.definition.poll_interval_seconds = 1
    async with AsyncExitStack() as stack:
        ids = {
            status: await stack.enter_async_context(campaign(dev_client, world, status))
            for status, world in worlds.items()
        }
        mine = set(ids.values())
        # What each view must show of these three (other tests' campaigns may show too).
        expected = {
            "running": {ids["running"]},
            "needing attention": {ids["attention"]},
            "failed": {ids["failed"]},
            "one owner's live campaigns": {ids["running"], ids["attention"]},
            "one owner's campaigns": mine,
        }
        for name, query in saved_views().items():
            query = query.replace(OWNER_PLACEHOLDER, owner)

            async def listed(query: str = query, name: str = name) -> None:
                found = {w.id async for w in dev_client.list_workflows(query)}
                assert found & mine == expected[name], (name, query, found & mine)

            await assert_eventually(listed, timeout=20)
            assert await temporal_cli_list(dev_env, query) & mine == expected[name], query
