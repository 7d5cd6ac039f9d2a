"""py-evm through eth-tester, made repeatable: the same calls give the same chain, to the
block hash, so a chain kept as a journal of its calls (``sandbox.evm_journal``) comes back
whole on a restart, every receipt included.

eth-tester's own set-up is already fixed (the same accounts, so the same nonces and contract
addresses); what varies is the genesis time, each block's time (the wall clock) and each
block's ``mix_hash`` (``os.urandom``, standing in for post-merge randomness). Here the
genesis time is given, a block is one second after its parent, and the ``mix_hash`` is the
hash of the parent's. The escrow reads neither the time nor the randomness.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eth.vm.forks.cancun.state import get_total_blob_gas
from eth.vm.forks.prague import PragueVM
from eth_tester.backends.pyevm.main import PyEVMBackend
from eth_utils.crypto import keccak
from eth_utils.functional import to_tuple

ZERO_ADDRESS = b"\x00" * 20


class RepeatableBackend(PyEVMBackend):  # type: ignore[misc]
    def __init__(self, genesis_timestamp: int) -> None:
        genesis = self.generate_genesis_params({"timestamp": genesis_timestamp})
        super().__init__(genesis_parameters=genesis)

    @to_tuple  # type: ignore[misc]
    def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = ZERO_ADDRESS) -> Iterator[Any]:
        for _ in range(num_blocks):
            parent = self.chain.get_canonical_head()
            self.chain.header = self.chain.header.copy(timestamp=parent.timestamp + 1)
            kwargs: dict[str, Any] = {"coinbase": coinbase, "mix_hash": keccak(parent.hash)}
            if isinstance(self.chain.get_vm(), PragueVM):
                transactions = self.chain.get_block().transactions
                kwargs["blob_gas_used"] = sum(get_total_blob_gas(tx) for tx in transactions)
            yield self.chain.mine_block(**kwargs).hash
