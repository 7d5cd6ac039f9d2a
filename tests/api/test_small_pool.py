"""Many owners' requests at once against a small pool: no request may hold a connection while
it waits on Temporal (a request-scoped session for the key lookup deadlocked the pool)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from core.migrate import upgrade
from tests.api.conftest import CAMPAIGN_BODY, Stack, new_owner, run_stack

POOL = 2
CONCURRENT = 12


@pytest.fixture
async def small_pool_stack(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Stack]:
    database_url = f"sqlite:///{tmp_path / 'campaigns.db'}"
    upgrade(database_url)
    async for started in run_stack(dev_env, database_url, db_pool_size=POOL, db_max_overflow=0):
        yield started


async def test_concurrent_publishes_with_owner_keys_do_not_drain_a_small_pool(
    small_pool_stack: Stack,
) -> None:
    stack = small_pool_stack
    owners = [await new_owner(stack, f"Owner {n}") for n in range(CONCURRENT)]
    campaign_ids = []
    for n, (_, key) in enumerate(owners):
        async with stack.client(key) as client:
            body = {**CAMPAIGN_BODY, "first_post": {"text": f"Launch {n}"}}
            created = await client.post("/v1/campaigns", json=body)
            assert created.status_code == 201, created.text
            campaign_ids.append(created.json()["id"])

    async def publish(key: str, campaign_id: str) -> int:
        async with stack.client(key) as client:
            answer = await client.post(f"/v1/campaigns/{campaign_id}/publish", timeout=20)
            return answer.status_code

    codes = await asyncio.wait_for(
        asyncio.gather(
            *(publish(key, cid) for (_, key), cid in zip(owners, campaign_ids, strict=True))
        ),
        timeout=25,
    )
    assert codes == [202] * CONCURRENT
