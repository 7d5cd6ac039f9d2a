"""What crosses the boundary between the distribution workflow and its payment activity.

Plain dataclasses and activity names only (no I/O imports): the workflow imports this module.
Recipients never cross it: the activity reads them from the payout rows by ``seq``.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.contracts import DistributionProgress

BUILD_REWARD_TABLE = "build_reward_table"
PAY_BATCH = "pay_batch"


@dataclass
class PayBatchRequest:
    """Pay the next pending payout rows with ``seq`` above ``after_seq`` and, when given, at
    most ``through_seq`` (at most ``limit``, capped at ``MAX_ROWS_PER_ACTIVITY``, in ledger calls
    of 500)."""

    campaign_id: str
    escrow_id: str
    after_seq: int
    limit: int = 500
    through_seq: int | None = None


@dataclass
class PayBatchResult:
    last_seq: int  # highest seq settled by this batch (``after_seq`` if there was nothing)
    sent: int  # payout rows this batch settled; 0 means nothing was left after ``after_seq``
    progress: DistributionProgress  # counts over all the campaign's payout rows
