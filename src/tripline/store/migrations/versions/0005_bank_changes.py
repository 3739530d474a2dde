"""Bank change log and the derived features of banked images.

``bank_changes`` gives every bank change a sequence number, written in the
same transaction as the change, so serving processes apply exactly the
changes after the one they have (docs/consistency.md).
``bank_entry_features`` keeps the region hashes and keypoint record of an
entry banked from an image: with them in the database, a process's index
folder is only a cache that can be rebuilt from the database alone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types, as in 0001.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bank_changes",
        sa.Column("seq", BigId, nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("bank", sa.String(length=64), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=True),
        sa.Column("entry_ids", JSONDoc, nullable=True),
        sa.Column("detail", JSONDoc, nullable=True),
        sa.Column("at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_bank_changes")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "bank_entry_features",
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("regions", sa.LargeBinary(), nullable=True),
        sa.Column("keypoints", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["bank_entries.id"], name=op.f("fk_bank_entry_features_entry_id_bank_entries"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_bank_entry_features")),
    )


def downgrade() -> None:
    op.drop_table("bank_entry_features")
    op.drop_table("bank_changes")
