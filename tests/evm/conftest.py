from __future__ import annotations

import pytest

from tests.evm.chain import Chain, new_chain
from tests.evm.port_chain import PortChain, new_port_chain


@pytest.fixture
def chain() -> Chain:
    """A fresh chain per test: no test sees another's escrows or balances."""
    return new_chain()


@pytest.fixture
async def port_chain() -> PortChain:
    return await new_port_chain()
