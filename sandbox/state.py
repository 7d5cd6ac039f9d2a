"""Everything one sandbox app holds: the X world, the ledger and the fault settings.

The world is in memory; with a state file (``SandboxState.open``) every change is also saved
before its answer leaves (sandbox.persistence), and the chain's calls are journaled in the
same file (sandbox.evm_journal). Fault settings are not saved: a restart
clears them, as it would clear a network's bad afternoon.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from sandbox.evm_journal import ChainJournal
from sandbox.ledger_book import LedgerBook
from sandbox.persistence import SandboxStore
from sandbox.x_world import XWorld


class RateLimitSettings(BaseModel):
    limit: int = Field(ge=0)
    window_s: float = Field(gt=0)


class FaultSettings(BaseModel):
    """What ``PUT /sandbox/faults`` takes. Faults apply to the X, ledger and chain (``/evm``)
    APIs only; ``all`` is the three."""

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    lose_response_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    rate_limit: RateLimitSettings | None = None
    # Extensions: which API the faults hit, and a seed for repeatable randomness.
    target: Literal["all", "x", "ledger", "evm"] = "all"
    seed: int | None = None


@dataclass
class RateWindow:
    started_at: float = 0.0
    used: int = 0


@dataclass
class SandboxState:
    x: XWorld = field(default_factory=XWorld)
    ledger: LedgerBook = field(default_factory=LedgerBook)
    faults: FaultSettings = field(default_factory=FaultSettings)
    rng: random.Random = field(default_factory=random.Random)
    window: RateWindow = field(default_factory=RateWindow)
    # One lock around every change: routes are async, and the state must stay consistent
    # however requests interleave.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    store: SandboxStore | None = None
    chain_journal: ChainJournal | None = None  # the chain's calls, in the same file

    @classmethod
    def open(cls, state_file: Path | None) -> SandboxState:
        """In memory without a file; else the world saved in ``state_file`` (new if absent)."""
        if state_file is None:
            return cls()
        store = SandboxStore(state_file)
        x, ledger = store.load()
        return cls(x=x, ledger=ledger, store=store, chain_journal=ChainJournal(state_file))

    @asynccontextmanager
    async def changes(self) -> AsyncIterator[None]:
        """Hold the lock for a change, then save what it touched before releasing it, so
        an answer is only sent for a change that is on disk. Saved even if the change
        raised halfway: what it did apply is in memory and must not be lost on restart."""
        async with self.lock:
            try:
                yield
            finally:
                if self.store is not None:
                    rows = self.store.rows(self.x, self.ledger)
                    if rows:
                        await asyncio.to_thread(self.store.save, rows)

    def set_faults(self, faults: FaultSettings) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.window = RateWindow()
