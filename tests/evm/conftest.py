from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.evm.chain import Chain, new_chain
from tests.evm.port_chain import PortChain, new_port_chain
from tests.sandbox.world import SandboxWorld, running_sandbox


@pytest.fixture
def chain() -> Chain:
    """A fresh chain per test: no test sees another's escrows or balances."""
    return new_chain()


@pytest.fixture
async def port_chain() -> PortChain:
    return await new_port_chain()


@pytest.fixture
async def world() -> AsyncIterator[SandboxWorld]:
    """A sandbox of its own over real HTTP (its chain is built on the first ``/evm`` call)."""
    async with running_sandbox() as running:
        yield running
