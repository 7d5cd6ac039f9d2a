"""evm transactions: signed bytes saved under their effect key, and a nonce per sender

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 17:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evm_transaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("escrow_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_evm_transaction_key"),
    )
    op.create_index("ix_evm_transaction_escrow", "evm_transaction", ["escrow_id", "id"])
    op.create_table(
        "evm_transaction_cover",
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("transfer_key", sa.String(length=200), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["transaction_id"], ["evm_transaction.id"]),
        sa.PrimaryKeyConstraint("transaction_id", "position"),
    )
    op.create_index("ix_evm_cover_transfer_key", "evm_transaction_cover", ["transfer_key"])
    op.create_table(
        "evm_nonce",
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sender"),
    )


def downgrade() -> None:
    op.drop_table("evm_nonce")
    op.drop_index("ix_evm_cover_transfer_key", table_name="evm_transaction_cover")
    op.drop_table("evm_transaction_cover")
    op.drop_index("ix_evm_transaction_escrow", table_name="evm_transaction")
    op.drop_table("evm_transaction")
