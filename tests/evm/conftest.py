from __future__ import annotations

import pytest

from tests.evm.chain import Chain, new_chain


@pytest.fixture
def chain() -> Chain:
    """A fresh chain per test: no test sees another's escrows or balances."""
    return new_chain()
