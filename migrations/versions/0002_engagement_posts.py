"""engagement posts: every reply and quote, with its creation time on X

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:12:04.518302
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engagement_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("post_id", sa.String(length=64), nullable=False),
        sa.Column("x_user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.String(), nullable=True),
        sa.Column("posted_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "post_id", name="uq_engagement_post"),
    )
    # Carry over the one reply and quote per user that 0001 kept, so a quest running across
    # the upgrade loses none of them. X's creation time was never recorded: posted_at stays
    # NULL until the next poll sees the post again. A post recorded as both a quote and a
    # reply of its author is carried once (its first row).
    op.execute(
        """
        INSERT INTO engagement_post
            (campaign_id, post_id, x_user_id, kind, text, posted_at, first_seen_at)
        SELECT campaign_id, post_id, x_user_id, kind, text, NULL, first_seen_at
        FROM engagement
        WHERE id IN (
            SELECT MIN(id) FROM engagement
            WHERE post_id IS NOT NULL AND kind IN ('quote', 'reply')
            GROUP BY campaign_id, post_id
        )
        """
    )


def downgrade() -> None:
    op.drop_table("engagement_post")
