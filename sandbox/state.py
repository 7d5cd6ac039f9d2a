"""Everything one sandbox app holds: the X world, the ledger and the fault settings."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from sandbox.ledger_book import LedgerBook
from sandbox.x_world import XWorld


class RateLimitSettings(BaseModel):
    limit: int = Field(ge=0)
    window_s: float = Field(gt=0)


class FaultSettings(BaseModel):
    """What ``PUT /sandbox/faults`` takes. Faults apply to the X and ledger APIs only."""

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    lose_response_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    rate_limit: RateLimitSettings | None = None
    # Extensions: which API the faults hit, and a seed for repeatable randomness.
    target: Literal["all", "x", "ledger"] = "all"
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

    def set_faults(self, faults: FaultSettings) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.window = RateWindow()
