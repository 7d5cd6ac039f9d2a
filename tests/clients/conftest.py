from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sandbox.world import SandboxWorld, running_sandbox


@pytest.fixture
async def world() -> AsyncIterator[SandboxWorld]:
    async with running_sandbox() as running:
        yield running
