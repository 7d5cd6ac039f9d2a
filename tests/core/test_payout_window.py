"""How the campaign sizes the distribution's windows: one wave of side-by-side pay_batch
activities when the rows fit, whole ledger calls, never more than an activity may pay."""

from __future__ import annotations

import pytest

from activities.rewards import MAX_ROWS_PER_ACTIVITY
from core.contracts import LEDGER_CALL_ROWS, PARALLEL_PAYOUT_WINDOWS, payout_window


@pytest.mark.parametrize(
    ("recipients", "window"),
    [(0, 500), (1, 500), (150, 500), (4_000, 500), (4_001, 1_000), (20_000, 2_500),
     (40_000, 5_000), (100_000, 5_000)],
)  # fmt: skip
def test_windows_cover_the_table_in_one_wave_when_they_can(recipients: int, window: int) -> None:
    assert payout_window(recipients) == window


@pytest.mark.parametrize("recipients", range(0, 60_001, 250))
def test_every_window_is_whole_ledger_calls_that_one_activity_may_pay(recipients: int) -> None:
    window = payout_window(recipients)
    assert window % LEDGER_CALL_ROWS == 0
    assert LEDGER_CALL_ROWS <= window <= MAX_ROWS_PER_ACTIVITY
    waves = -(-recipients // window) / PARALLEL_PAYOUT_WINDOWS
    assert waves <= 1 or window == MAX_ROWS_PER_ACTIVITY
