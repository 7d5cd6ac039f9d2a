"""campaign.replies_read_at: where the next engagement poll's read of the replies starts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 15:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty on every campaign already there: its next poll reads all the replies, as before.
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(
            sa.Column("replies_read_at", core.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("replies_read_at")
